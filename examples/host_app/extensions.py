"""The example host's own unbound extensions."""

from flask_jwt_extended import JWTManager
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy

from flask_socketio_jwt import SocketJWT

db = SQLAlchemy()
jwt = JWTManager()
socketio = SocketIO()
socket_jwt = SocketJWT()
