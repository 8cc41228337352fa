"""audit_records is append-only on PostgreSQL: a trigger refuses UPDATE, DELETE and TRUNCATE,
and the privileges to do them are revoked (SQLite has no roles; the MAC chain and the
checkpoints outside the table catch tampering there)

Revision ID: 0004_audit
Revises: 0003
Create Date: 2026-12-01 09:30:00
"""

from alembic import op


revision = "0004_audit"
down_revision = "0003"
branch_labels = None
depends_on = None

REFUSE = """
CREATE OR REPLACE FUNCTION dugout_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_records is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
REVOKE_OWN = """
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_records FROM %I', current_user);
    END IF;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFUSE)
    op.execute(
        "CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records "
        "FOR EACH ROW EXECUTE FUNCTION dugout_audit_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records "
        "FOR EACH STATEMENT EXECUTE FUNCTION dugout_audit_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_records FROM PUBLIC")
    op.execute(REVOKE_OWN)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records")
    op.execute("DROP TRIGGER IF EXISTS audit_records_no_change ON audit_records")
    op.execute("DROP FUNCTION IF EXISTS dugout_audit_append_only()")
