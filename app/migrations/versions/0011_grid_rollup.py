"""the grid of runs' settled slots (issue 15): runs per pipeline, status and slot, their summed
duration, newest start and newest run, so the 7 d and 30 d grids read a few hundred rows, not
the ledger

Revision ID: 0011_grid_rollup
Revises: 0010_bet_reads (0010 was taken by the bets reads the same afternoon)
Create Date: 2026-12-01 16:10:00
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = "0011_grid_rollup"
down_revision = "0010_bet_reads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_grid_slots",
        sa.Column("size_s", sa.Integer(), nullable=False),
        sa.Column("slot_start", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pipeline", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("slot_end", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("duration_ms_sum", sa.Float(), nullable=False),
        sa.Column("newest_started_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("newest_run_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("size_s", "slot_start", "pipeline", "status"),
    )
    with op.batch_alter_table("rollup_grid_slots", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_grid_slots_span", ["slot_start", "slot_end"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rollup_grid_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_grid_slots_span")
    op.drop_table("rollup_grid_slots")
