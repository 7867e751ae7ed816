"""Helpers both test trees (tests/app, tests/package) use, and the benchmarks; nothing here imports the demo app."""
