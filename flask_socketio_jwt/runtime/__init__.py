"""One small module per async runtime."""
