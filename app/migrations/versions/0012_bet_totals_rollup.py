"""the bets page's totals from a rollup (issue 16): graded bets per 30-day block and per UTC
day, summed by the keys the page filters on (every strategy tag, every book including an
arbitrage's legs, market, settled or void), so a year's totals read a few thousand rows
instead of every bet; and an index of the bets not graded yet, the tail the totals add

Revision ID: 0012_bet_totals_rollup
Revises: 0011_grid_rollup
Create Date: 2026-12-01 19:45:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0012_bet_totals_rollup"
down_revision = "0011_grid_rollup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_bet_totals",
        sa.Column("size_s", sa.Integer(), nullable=False),
        sa.Column("slot_start", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("books", sa.Text(), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("slot_end", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("staked", sa.Float(), nullable=False),
        sa.Column("settled", sa.Integer(), nullable=False),
        sa.Column("settled_staked", sa.Float(), nullable=False),
        sa.Column("units", sa.Float(), nullable=False),
        sa.Column("clv_n", sa.Integer(), nullable=False),
        sa.Column("clv_sum", sa.Float(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("losses", sa.Integer(), nullable=False),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("size_s", "slot_start", "tags", "books", "market", "state"),
    )
    with op.batch_alter_table("rollup_bet_totals", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_bet_totals_span", ["slot_start", "slot_end"], unique=False)
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recommendations_ungraded",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text("status <> 'graded'"),
            sqlite_where=sa.text("status <> 'graded'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_ungraded")
    with op.batch_alter_table("rollup_bet_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_bet_totals_span")
    op.drop_table("rollup_bet_totals")
