"""Flask CLI commands: create-user, user disable/enable and prune."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from extensions import db
from models import AuditEvent, RevokedToken


def register_cli(app: Flask) -> None:
    """Add the commands to `flask --app app`."""
    app.cli.add_command(create_user_cmd)
    app.cli.add_command(user_cmd)
    app.cli.add_command(prune_cmd)


@click.command("create-user")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_user_cmd(username: str, admin: bool, password_stdin: bool) -> None:
    """Create a user (the password is prompted, or read from standard input)."""
    from blueprints.auth import create_user, validate_credentials
    from flask_socketio_jwt import SocketJWTError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        validate_credentials({"username": username, "password": password})
        user = create_user(username, password, is_admin=admin)
    except SocketJWTError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    click.echo(f"created user {user.username} (id {user.id}{', admin' if admin else ''})")


@click.group("user")
def user_cmd() -> None:
    """Disable or enable a user."""


@user_cmd.command("disable")
@click.argument("username")
@with_appcontext
def disable_cmd(username: str) -> None:
    """Disable a user: their tokens are refused from now on and their live sockets, on every
    process, get `auth_revoked` `{"code": "user_unknown"}` and a disconnect. Audited."""
    _set_active(username, False)


@user_cmd.command("enable")
@click.argument("username")
@with_appcontext
def enable_cmd(username: str) -> None:
    """Enable a disabled user again (their earlier tokens work again if unexpired and not revoked)."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    from extensions import socket_jwt
    from flask_socketio_jwt import get_state
    from models import User

    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or username.startswith("@"):
        raise click.ClickException(f"no user named {username!r}")
    changed = user.is_active != active
    user.is_active = active
    db.session.commit()  # committed first: a kicked client that reconnects is refused
    state = get_state()
    state.audit.enqueue("user_enabled" if active else "user_disabled", user_id=user.id, via="cli",
                        changed=changed)
    if not active:
        socket_jwt.revoke(user_id=user.id, code="user_unknown")
    state.audit.flush()
    click.echo(f"{'enabled' if active else 'disabled'} user {user.username} (id {user.id})"
               + ("" if changed else ", as it already was"))


@click.command("prune")
@with_appcontext
def prune_cmd() -> None:
    """Drop expired blocklist rows and audit rows older than AUDIT_RETENTION_DAYS."""
    now = datetime.now(UTC)
    days = int(current_app.config["AUDIT_RETENTION_DAYS"])
    tokens = db.session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at < now)).rowcount
    audit = db.session.execute(sa.delete(AuditEvent).where(AuditEvent.ts < now - timedelta(days=days))).rowcount
    db.session.commit()
    click.echo(f"pruned {tokens} expired blocklist rows and {audit} audit rows older than {days} days")
