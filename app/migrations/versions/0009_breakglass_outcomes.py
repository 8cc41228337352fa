"""break-glass outcomes (issue 15): an audit record names the request it is the outcome of, and
a scheduler command remembers its request's audit record and its outcome's

audit_records stays append-only: adding a nullable column rewrites no row (the PostgreSQL
trigger refuses UPDATE and DELETE only), and old records keep their MACs (a record's MAC
covers request_seq only when it has one).

Revision ID: 0009_breakglass_outcomes
Revises: 0007_feeds
Create Date: 2026-12-01 13:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0009_breakglass_outcomes"
down_revision = "0007_feeds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch_op:
        batch_op.add_column(sa.Column("request_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_audit_records_request_seq", ["request_seq"], unique=False)
    with op.batch_alter_table("scheduler_commands") as batch_op:
        batch_op.add_column(sa.Column("audit_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("outcome_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduler_commands") as batch_op:
        batch_op.drop_column("outcome_seq")
        batch_op.drop_column("audit_seq")
    with op.batch_alter_table("audit_records") as batch_op:
        batch_op.drop_index("ix_audit_records_request_seq")
        batch_op.drop_column("request_seq")
