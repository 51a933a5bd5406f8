"""The roles of 0001 for the imports (``programs.ImportJob``): Programm-Management runs
them (its role may adjust points, so it may import balances); Administration, which holds
every permission, gets theirs. Safe to run again (permissions are only added)."""

from importlib import import_module

from django.db import migrations

_roles = import_module("loyalty_site.migrations.0001_staff_roles")

RIGHTS = {
    "Programm-Management": {
        "programs.importjob": ("view", "add"),
        "programs.importrowerror": ("view",),
    },
    "Administration": {
        "programs.importjob": ("view", "add", "change", "delete"),
        "programs.importrowerror": ("view", "add", "change", "delete"),
        "programs.importfilepart": ("view", "add", "change", "delete"),
    },
}


def roles_extend(apps, schema_editor):
    _roles.permissions_create(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, rights in RIGHTS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*_roles.role_permissions(Permission, rights))


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty_site", "0002_link_claim_roles"),
        ("programs", "0016_imports"),
    ]

    operations = [migrations.RunPython(roles_extend, migrations.RunPython.noop)]
