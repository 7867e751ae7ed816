"""flask_socketio_jwt: authenticated Socket.IO namespaces for flask-jwt-extended apps."""
