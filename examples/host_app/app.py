"""A flask-jwt-extended app with its own users, login and blocklist, and Socket.IO handlers on /chat."""

from flask import Blueprint, Flask, jsonify, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    current_user,
    get_jwt,
    get_jwt_header,
    get_jwt_identity,
    jwt_required,
)
from flask_socketio import emit, join_room
from werkzeug.security import check_password_hash, generate_password_hash

from config import Config
from extensions import db, jwt, socket_jwt, socketio
from flask_socketio_jwt import AuthNamespace
from models import Account, BlockedToken, socket_audit

api = Blueprint("api", __name__)


@jwt.user_lookup_loader
def load_account(_header, claims):
    account = db.session.get(Account, int(claims["user"]))
    return None if account is None or account.banned else account  # None: refused as user_unknown


@jwt.token_in_blocklist_loader
def is_blocked(_header, claims):
    return db.session.get(BlockedToken, claims["jti"]) is not None


@api.post("/register")
def register():
    body = request.get_json()
    account = Account(name=body["name"], password_hash=generate_password_hash(body["password"]),
                      is_admin=bool(body.get("admin")))
    db.session.add(account)
    db.session.commit()
    return jsonify(id=account.id), 201


@api.post("/login")
def login():
    body = request.get_json()
    account = db.session.scalar(db.select(Account).filter_by(name=body["name"]))
    if account is None or not check_password_hash(account.password_hash, body["password"]):
        return jsonify(error="bad credentials"), 401
    return jsonify(access_token=create_access_token(identity=str(account.id)),
                   refresh_token=create_refresh_token(identity=str(account.id)))


@api.post("/refresh")
@jwt_required(refresh=True)
def refresh():
    return jsonify(access_token=create_access_token(identity=get_jwt_identity()))


@api.post("/logout")
@jwt_required()
def logout():
    jti = get_jwt()["jti"]
    db.session.add(BlockedToken(jti=jti))
    db.session.commit()
    socket_jwt.revoke(jti=jti)  # every socket on this token, on every process: auth_revoked, disconnect
    return jsonify(revoked=jti)


@api.post("/accounts/<int:account_id>/ban")
@jwt_required()
def ban(account_id):
    if not current_user.is_admin:
        return jsonify(error="admins only"), 403
    db.session.get(Account, account_id).banned = True
    db.session.commit()
    socket_jwt.revoke(user_id=account_id)  # every socket of that account
    return jsonify(banned=account_id)


@api.get("/health")
def health():
    return jsonify(status="ok")


# Socket.IO handlers, written as Flask-SocketIO's docs teach. Each one runs only for a socket
# whose token passed the same checks as @jwt_required(); the accessors give that token.

@socketio.on("connect", namespace="/chat")
def chat_connect(auth):
    if current_user.banned:
        return False  # refuses the socket, as in Flask-SocketIO
    join_room(f"account:{get_jwt_identity()}")  # every socket of one account, for notices


@socketio.on("whoami", namespace="/chat")
def whoami(payload=None):
    return {"ok": True, "identity": get_jwt_identity(), "jti": get_jwt()["jti"], "alg": get_jwt_header()["alg"],
            "name": current_user.name}


@socketio.on("join", namespace="/chat")
def join(payload):
    join_room(str(payload["room"]))
    emit("joined", {"room": payload["room"], "name": current_user.name}, to=str(payload["room"]))
    return {"ok": True}


@socketio.on("shout", namespace="/chat")
def shout(payload):
    emit("shout", {"from": current_user.name, "text": str(payload)[:200]}, broadcast=True)
    return {"ok": True}


@socketio.on_error("/chat")
def chat_error(exc):
    return {"ok": False, "error": {"code": "bad_request", "message": type(exc).__name__}}


class NoticeNamespace(AuthNamespace):
    """A class-based namespace beside them: one payload per event, `invalid_payload` for unknown events."""

    def on_connect(self, auth=None):
        join_room(f"account:{get_jwt_identity()}")

    def on_unread(self, payload=None):
        return {"ok": True, "identity": get_jwt_identity(), "count": 0}


def create_app(overrides=None):
    app = Flask(__name__)
    app.config.from_object(Config)
    app.config.from_prefixed_env()
    app.config.update(overrides or {})
    db.init_app(app)
    jwt.init_app(app)
    socketio.init_app(app)  # the async mode is the installed one Flask-SocketIO picks (eventlet, gevent, ...)
    socket_jwt.init_app(app, socketio, audit_table=socket_audit, engine=db,
                        session_user=lambda account: {"name": account.name})
    socketio.on_namespace(NoticeNamespace("/notices"))
    app.register_blueprint(api, url_prefix="/api")
    with app.app_context():
        db.create_all()
    return app
