"""login throttling per account, per client address and per both (replaces login_failures)

Revision ID: 0005_throttle
Revises: 0004_audit
Create Date: 2026-12-01 10:00:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0005_throttle"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.drop_index("ix_login_failures_user_at", table_name="login_failures")
    op.drop_table("login_failures")


def downgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failures_user_at", "login_failures", ["username", "at"])
    op.drop_table("login_throttle")
