"""run claims: claim token, heartbeat, leader epoch and fence kind on pipeline_runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("heartbeat_at", app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("leader_epoch", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("fence", sa.String(length=8), nullable=True))
        batch_op.create_index(
            "ix_pipeline_runs_status_heartbeat", ["status", "heartbeat_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_pipeline_runs_status_heartbeat")
        batch_op.drop_column("fence")
        batch_op.drop_column("leader_epoch")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("claim_token")
