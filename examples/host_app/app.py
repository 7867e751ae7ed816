"""A flask-jwt-extended app with its own users, login and blocklist, and sockets on /chat."""

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


class ChatNamespace(AuthNamespace):
    """Each on_<event> runs only for an authenticated, unexpired socket; its return value is the ack."""

    def on_whoami(self, payload):
        return {"ok": True, "identity": get_jwt_identity(), "jti": get_jwt()["jti"],
                "alg": get_jwt_header()["alg"], "name": current_user.name}

    def on_shout(self, payload):
        socketio.emit("shout", {"from": current_user.name, "text": str(payload)[:200]}, namespace=self.namespace)
        return {"ok": True}


def create_app(overrides=None):
    app = Flask(__name__)
    app.config.from_object(Config)
    app.config.from_prefixed_env()
    app.config.update(overrides or {})
    db.init_app(app)
    jwt.init_app(app)
    socket_jwt.init_app(app, socketio, audit_table=socket_audit, engine=db,
                        session_user=lambda account: {"name": account.name})
    socketio.on_namespace(ChatNamespace("/chat"))
    app.register_blueprint(api, url_prefix="/api")
    with app.app_context():
        db.create_all()
    return app
