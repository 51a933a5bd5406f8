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


def rights_add(apps, rights_by_role: dict) -> None:
    """Give each role these rights (the models' permissions created first)."""
    _roles.permissions_create(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, rights in rights_by_role.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*_roles.role_permissions(Permission, rights))


def roles_extend(apps, schema_editor):
    rights_add(apps, RIGHTS)


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty_site", "0002_link_claim_roles"),
        ("programs", "0016_imports"),
    ]

    operations = [migrations.RunPython(roles_extend, migrations.RunPython.noop)]
