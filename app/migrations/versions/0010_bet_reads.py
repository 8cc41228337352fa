"""fast bet reads (issue 17): graded bets per day, strategy, book and market (the strategies
page's statistics from a rollup), and the indexes the bets page's book picker walks

Revision ID: 0010_bet_reads
Revises: 0008_run_logs
Create Date: 2026-12-01 16:00:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0010_bet_reads"
down_revision = "0008_run_logs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_grade_splits",
        sa.Column("day", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("book", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.Column("losses", sa.Integer(), nullable=False),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("staked", sa.Float(), nullable=False),
        sa.Column("units", sa.Float(), nullable=False),
        sa.Column("units_sq", sa.Float(), nullable=False),
        sa.Column("units_stake", sa.Float(), nullable=False),
        sa.Column("stake_sq", sa.Float(), nullable=False),
        sa.Column("clv_n", sa.Integer(), nullable=False),
        sa.Column("clv_sum", sa.Float(), nullable=False),
        sa.Column("clv_sq", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "strategy", "book", "market"),
    )
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recommendations_single_book",
            ["book"],
            unique=False,
            postgresql_where=sa.text("kind <> 'arbitrage'"),
            sqlite_where=sa.text("kind <> 'arbitrage'"),
        )
    with op.batch_alter_table("recommendation_legs", schema=None) as batch_op:
        batch_op.create_index("ix_recommendation_legs_book", ["book"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recommendation_legs", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendation_legs_book")
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_single_book")
    op.drop_table("rollup_grade_splits")
