"""user sessions remember when they were last used (DUGOUT_SESSION_IDLE_TIMEOUT_S)

Revision ID: 0006_session_idle
Revises: 0005_throttle
Create Date: 2026-12-01 10:40:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0006_session_idle"
down_revision = "0005_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_sessions") as batch_op:
        batch_op.add_column(
            sa.Column("last_seen_at", app.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("user_sessions") as batch_op:
        batch_op.drop_column("last_seen_at")
