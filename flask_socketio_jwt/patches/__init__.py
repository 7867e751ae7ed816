"""Changes to libraries' private internals, each version-checked with a stock fallback."""
