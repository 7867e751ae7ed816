"""An admin view of the live sockets: a protected namespace that admits admins only."""

from flask_jwt_extended import current_user
from flask_socketio import ConnectionRefusedError
from quickstart import socketio  # your app's SocketIO

from flask_socketio_jwt import AuthNamespace, get_state


class AdminNamespace(AuthNamespace):
    def on_connect(self, auth=None):
        # The token already passed every check; the role is the app's own business.
        if not current_user.get("admin"):
            raise ConnectionRefusedError("forbidden", {"code": "forbidden",
                                                       "message": "Admins only."})

    def on_sockets(self, payload=None):
        registry = get_state().registry
        here = [  # the sockets this process holds
            {"sid": s.sid, "user_id": s.user_id, "namespace": s.namespace,
             "expires_at": s.exp, "remote_addr": s.remote_addr}
            for s in list(registry.local.values())
        ]
        # online_users(): user id -> live sockets, on every process
        return {"ok": True, "online": registry.online_users(), "here": here}


socketio.on_namespace(AdminNamespace("/admin"))
