"""On PostgreSQL, a trigger refuses to change or delete an audit event, from the
application or from SQL alike. (The application refuses it on every database;
SQLite, the embedded default, keeps to that.) TRUNCATE, which only the owner of
the table may run, is left to backups and restores."""

from django.db import migrations

CREATE = """
CREATE FUNCTION unionfunds_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % of an audit event refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER unionfunds_audit_append_only BEFORE UPDATE OR DELETE ON unionfunds_auditevent
    FOR EACH ROW EXECUTE FUNCTION unionfunds_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS unionfunds_audit_append_only ON unionfunds_auditevent;
DROP FUNCTION IF EXISTS unionfunds_audit_append_only();
"""


def on_postgresql(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # the trigger's message holds a %

    return run


class Migration(migrations.Migration):
    dependencies = [("unionfunds", "0005_lean_audit_trail")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP), elidable=False)]
