"""The ledger's rules, held by the database: balanced entries and append-only rows."""

from django.db import migrations

BALANCED = """
CREATE FUNCTION payments_entry_is_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry bigint;
    bad record;
BEGIN
    IF TG_TABLE_NAME = 'payments_journalentry' THEN
        entry := NEW.id;
    ELSE
        entry := NEW.entry_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM payments_journalline WHERE entry_id = entry) THEN
        RAISE EXCEPTION 'journal entry % has no lines', entry USING ERRCODE = '23514';
    END IF;
    SELECT currency, SUM(amount_minor) AS total INTO bad
      FROM payments_journalline WHERE entry_id = entry
     GROUP BY currency HAVING SUM(amount_minor) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: % % off', entry, bad.total, bad.currency
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER payments_journalline_balanced
    AFTER INSERT ON payments_journalline DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments_entry_is_balanced();
CREATE CONSTRAINT TRIGGER payments_journalentry_has_lines
    AFTER INSERT ON payments_journalentry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments_entry_is_balanced();

CREATE FUNCTION payments_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
END $$;

CREATE TRIGGER payments_journalline_append_only
    BEFORE UPDATE OR DELETE ON payments_journalline
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only();
CREATE TRIGGER payments_journalentry_append_only
    BEFORE UPDATE OR DELETE ON payments_journalentry
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only();
"""

UNDO = """
DROP TRIGGER payments_journalentry_append_only ON payments_journalentry;
DROP TRIGGER payments_journalline_append_only ON payments_journalline;
DROP FUNCTION payments_ledger_append_only();
DROP TRIGGER payments_journalentry_has_lines ON payments_journalentry;
DROP TRIGGER payments_journalline_balanced ON payments_journalline;
DROP FUNCTION payments_entry_is_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunSQL(BALANCED, UNDO)]
