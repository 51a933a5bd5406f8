"""The roles of 0001 for the background exports (``programs.ExportJob``): Administration,
which holds every permission, gets theirs; the others reach their own export jobs by
their link. Safe to run again (permissions are only added)."""

from importlib import import_module

from django.db import migrations

_imports = import_module("loyalty_site.migrations.0003_import_roles")

ALL = ("view", "add", "change", "delete")
RIGHTS = {"Administration": {"programs.exportjob": ALL, "programs.exportfilepart": ALL}}


def roles_extend(apps, schema_editor):
    _imports.rights_add(apps, RIGHTS)


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty_site", "0003_import_roles"),
        ("programs", "0017_export_jobs"),
    ]

    operations = [migrations.RunPython(roles_extend, migrations.RunPython.noop)]
