"""This app's own rules on top of flask_socketio_jwt: its token loaders, rooms and dms, database writes, metrics."""
