"""The quickstart: an app that issues JWTs with flask-jwt-extended, and its Socket.IO handlers.

The handlers are written as Flask-SocketIO's documentation teaches; `SocketJWT` puts every one of
them behind the same checks as `@jwt_required()`.
"""

from datetime import timedelta

from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    current_user,
    get_jwt,
    get_jwt_identity,
    jwt_required,
)
from flask_socketio import SocketIO, emit, join_room

from flask_socketio_jwt import AuthNamespace, SocketJWT

jwt = JWTManager()
socketio = SocketIO()
socket_jwt = SocketJWT()

# Your user model and your blocklist of revoked tokens' jtis.
USERS = {"1": {"name": "ann", "admin": True}, "2": {"name": "bob"}}
BLOCKLIST = set()


@jwt.user_lookup_loader
def load_user(_header, claims):
    return USERS.get(claims["sub"])  # None: the socket is refused `user_unknown`


@jwt.token_in_blocklist_loader
def is_revoked(_header, claims):
    return claims["jti"] in BLOCKLIST


# -- decorator handlers on the default namespace "/" ------------------------------------------

@socketio.on("connect")
def connect(auth):
    # Runs only after the token passed every check; `return False` refuses.
    join_room(f"user:{get_jwt_identity()}")


@socketio.on("whoami")
def whoami(data=None):
    # flask-jwt-extended's accessors show the socket's token; the return value is the ack.
    return {"ok": True, "id": get_jwt_identity(), "name": current_user["name"],
            "exp": get_jwt()["exp"]}


@socketio.on("join")
def join(data):
    join_room(data["room"])
    emit("joined", {"name": current_user["name"]}, to=data["room"])
    return {"ok": True}


# -- a class-based namespace ----------------------------------------------------------------

class ChatNamespace(AuthNamespace):
    def on_connect(self, auth=None):
        join_room(f"user:{get_jwt_identity()}")

    def on_whoami(self, payload):
        return {"ok": True, "jti": get_jwt()["jti"], "user_id": self.socket_info().user_id}


socketio.on_namespace(ChatNamespace("/chat"))


# -- the app ----------------------------------------------------------------------------------

def create_app(config=None):
    app = Flask(__name__)
    app.config.update(JWT_SECRET_KEY="change-me-to-32-or-more-random-bytes",
                      JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=15))
    app.config.update(config or {})

    @app.post("/login")
    def login():
        user_id = request.json["user_id"]  # check a password here
        return jsonify(access_token=create_access_token(identity=user_id))

    @app.post("/logout")
    @jwt_required()
    def logout():
        BLOCKLIST.add(get_jwt()["jti"])
        socket_jwt.revoke(jti=get_jwt()["jti"])  # its sockets, on every process
        return jsonify(ok=True)

    jwt.init_app(app)  # first: SocketJWT verifies tokens through it
    # Your SocketIO options, as always (ASYNC_MODE: this app's setting; None lets
    # Flask-SocketIO choose, its tests use "threading").
    socketio.init_app(app, async_mode=app.config.get("ASYNC_MODE"))
    socket_jwt.init_app(app, socketio)  # last
    return app


if __name__ == "__main__":
    socketio.run(create_app())
