"""the strategies page's long windows from 30-day blocks (issue 17): the grade day and split
rollups summed per fixed block aligned to the epoch, so a season or all-time window reads a
dozen blocks and the ragged days at its edges instead of a year of day rows

Revision ID: 0014_grade_blocks
Revises: 0013_runs_status_created
Create Date: 2026-12-02 16:00:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0014_grade_blocks"
down_revision = "0013_runs_status_created"
branch_labels = None
depends_on = None

SUMS = ("bets", "wins", "losses", "pushes", "staked", "units")


def _sum_columns(names: tuple[str, ...]) -> list[sa.Column]:
    integers = {"bets", "wins", "losses", "pushes", "clv_n"}
    return [sa.Column(n, sa.Integer() if n in integers else sa.Float(), nullable=False) for n in names]


def upgrade() -> None:
    op.create_table(
        "rollup_grade_day_blocks",
        sa.Column("block", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        *_sum_columns((*SUMS, "clv_sum", "clv_n")),
        sa.Column("clv_bins", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("block", "strategy"),
    )
    op.create_table(
        "rollup_grade_split_blocks",
        sa.Column("block", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("book", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        *_sum_columns(
            (*SUMS, "units_sq", "units_stake", "stake_sq", "clv_n", "clv_sum", "clv_sq")
        ),
        sa.PrimaryKeyConstraint("block", "strategy", "book", "market"),
    )


def downgrade() -> None:
    op.drop_table("rollup_grade_split_blocks")
    op.drop_table("rollup_grade_day_blocks")
