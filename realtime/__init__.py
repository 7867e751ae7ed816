"""Core of the real-time layer: no Flask request, no Socket.IO import, testable alone."""
