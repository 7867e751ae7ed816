"""The core: token lifecycle of live sockets; no Flask request and no Socket.IO in it."""
