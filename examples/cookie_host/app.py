"""A browser app whose JWTs live in flask-jwt-extended's HttpOnly cookies, with Socket.IO handlers on /.

The page never sees a token: login sets the access and refresh cookies, the socket's handshake
carries the access cookie (accepted only from this app's own origin), and the JS client renews
the cookie through /api/refresh and reconnects before the token runs out.
"""

from datetime import timedelta

from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)
from flask_socketio import SocketIO
from werkzeug.security import check_password_hash, generate_password_hash

from flask_socketio_jwt import SocketJWT

jwt = JWTManager()
socketio = SocketIO()
socket_jwt = SocketJWT()
PASSWORDS = {"ann": generate_password_hash("pw-ann"), "bob": generate_password_hash("pw-bob")}


@socketio.on("whoami")
def whoami(payload=None):
    return {"ok": True, "identity": get_jwt_identity(), "exp": get_jwt()["exp"]}


def create_app(overrides=None):
    app = Flask(__name__, static_url_path="/static")
    app.config.update(
        JWT_SECRET_KEY=None,  # set FLASK_JWT_SECRET_KEY
        JWT_TOKEN_LOCATION=["cookies"],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=15),
        JWT_COOKIE_SECURE=False,  # plain http on loopback; True behind https
        JWT_COOKIE_SAMESITE="Strict",
    )
    app.config.from_prefixed_env()
    app.config.update(overrides or {})
    jwt.init_app(app)
    socketio.init_app(app)
    socket_jwt.init_app(app, socketio)

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.post("/api/login")
    def login():
        body = request.get_json()
        hashed = PASSWORDS.get(body.get("name", ""))
        if hashed is None or not check_password_hash(hashed, body.get("password", "")):
            return jsonify(error="bad credentials"), 401
        resp = jsonify(ok=True)
        set_access_cookies(resp, create_access_token(identity=body["name"]))
        set_refresh_cookies(resp, create_refresh_token(identity=body["name"]))
        return resp

    @app.post("/api/refresh")
    @jwt_required(refresh=True)  # the refresh cookie plus its CSRF header (double submit)
    def refresh():
        resp = jsonify(ok=True)
        set_access_cookies(resp, create_access_token(identity=get_jwt_identity()))
        return resp

    @app.post("/api/logout")
    @jwt_required()
    def logout():
        socket_jwt.revoke(jti=get_jwt()["jti"])
        resp = jsonify(ok=True)
        unset_jwt_cookies(resp)
        return resp

    @app.get("/api/health")
    def health():
        return jsonify(status="ok")

    return app
