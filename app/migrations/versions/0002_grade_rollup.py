"""graded bets per day and strategy (rollup for the strategies page and gauges), grades by time,
freshness hours recomputed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 02:00:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_grade_days",
        sa.Column("day", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("losses", sa.Integer(), nullable=False),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("staked", sa.Float(), nullable=False),
        sa.Column("units", sa.Float(), nullable=False),
        sa.Column("clv_sum", sa.Float(), nullable=False),
        sa.Column("clv_n", sa.Integer(), nullable=False),
        sa.Column("clv_bins", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("day", "strategy"),
    )
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.create_index("ix_grades_graded", ["graded_at"], unique=False)
    # data freshness no longer counts ticks with no market open: recompute its stored hours
    op.execute("DELETE FROM rollup_slo_hours WHERE slo = 'data_freshness'")


def downgrade() -> None:
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.drop_index("ix_grades_graded")
    op.drop_table("rollup_grade_days")
