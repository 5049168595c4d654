"""The support and finance staff groups, and the dispute audit rows made append-only."""

from django.db import migrations

GROUPS = ("support", "finance")

APPEND_ONLY = """
CREATE TRIGGER payments_disputeaction_append_only
    BEFORE UPDATE OR DELETE ON payments_disputeaction
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only();
"""
UNDO_APPEND_ONLY = "DROP TRIGGER payments_disputeaction_append_only ON payments_disputeaction;"


def groups_create(apps, schema_editor):
    group = apps.get_model("auth", "Group")
    for name in GROUPS:
        group.objects.get_or_create(name=name)


def groups_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("payments", "0003_disputes"),
    ]

    operations = [
        migrations.RunPython(groups_create, groups_delete),
        migrations.RunSQL(APPEND_ONLY, UNDO_APPEND_ONLY),
    ]
