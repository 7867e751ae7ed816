"""Unbound extension objects; create_app binds them with init_app."""

from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_socketio_jwt import SocketJWT


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


db = SQLAlchemy(model_class=Base)
jwt = JWTManager()
socketio = SocketIO()
migrate = Migrate()
socket_jwt = SocketJWT()
