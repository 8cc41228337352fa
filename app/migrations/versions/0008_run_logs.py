"""run logs (issue 15): every log record emitted while a run's correlation id was set, kept
with the run for its page, bounded per run and pruned after DUGOUT_RUN_LOG_RETENTION_DAYS

Revision ID: 0008
Revises: 0009_breakglass_outcomes (landed on main first)
Create Date: 2026-12-01 13:10:00
"""
from alembic import op
import sqlalchemy as sa
import app.db


revision = "0008_run_logs"
down_revision = "0009_breakglass_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("at", app.db.UTCDateTime(), nullable=False),
        sa.Column("levelno", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("logger", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
    )
    op.create_index("ix_run_logs_run", "run_logs", ["run_id", "id"])
    op.create_index("ix_run_logs_correlation", "run_logs", ["correlation_id", "id"])
    op.create_index("ix_run_logs_at", "run_logs", ["at"])
    # what a run wrote, counted on its page without scanning a year of rows
    op.create_index("ix_source_snapshots_run", "source_snapshots", ["run_id"])
    op.create_index("ix_quotes_snapshot", "quotes", ["snapshot_id"])
    op.create_index("ix_opportunities_run", "opportunities", ["run_id"])
    op.create_index("ix_recommendations_opportunity", "recommendations", ["opportunity_id"])


def downgrade() -> None:
    op.drop_index("ix_recommendations_opportunity", table_name="recommendations")
    op.drop_index("ix_opportunities_run", table_name="opportunities")
    op.drop_index("ix_quotes_snapshot", table_name="quotes")
    op.drop_index("ix_source_snapshots_run", table_name="source_snapshots")
    op.drop_index("ix_run_logs_at", table_name="run_logs")
    op.drop_index("ix_run_logs_correlation", table_name="run_logs")
    op.drop_index("ix_run_logs_run", table_name="run_logs")
    op.drop_table("run_logs")
