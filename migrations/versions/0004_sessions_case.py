"""usernames unique regardless of case; "log out everywhere" to the millisecond

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    # Fails if two existing usernames differ only in case: rename one first.
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    # tokens_valid_after was whole seconds; it is milliseconds from now on.
    op.execute("UPDATE users SET tokens_valid_after = tokens_valid_after * 1000 "
               "WHERE tokens_valid_after IS NOT NULL")


def downgrade():
    op.execute("UPDATE users SET tokens_valid_after = tokens_valid_after / 1000 "
               "WHERE tokens_valid_after IS NOT NULL")
    op.drop_index("uq_users_username_lower", table_name="users")
