"""The roles of 0001 for shared accounts and points transfers (``programs.Account``,
``AccountMember``, ``AccountInvitation``, ``Transfer``):

* Kundenservice, which reads memberships, reads accounts, their members, invitations and
  transfers (a customer asks who spent the family's points);
* Programm-Management, which operates memberships and may adjust points, creates
  accounts, manages their members and invitations (through the services), and reviews and
  reverses transfers (the change permission on transfers);
* Finanzen reads transfers (they move points between balances, so the ledger shows them);
* Administration, which holds every permission, gets theirs.

Safe to run again (permissions are only added)."""

from importlib import import_module

from django.db import migrations

_imports = import_module("loyalty_site.migrations.0003_import_roles")

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)
RIGHTS = {
    "Kundenservice": {
        "programs.account": (VIEW,),
        "programs.accountmember": (VIEW,),
        "programs.accountinvitation": (VIEW,),
        "programs.transfer": (VIEW,),
    },
    "Programm-Management": {
        "programs.account": (VIEW, ADD, CHANGE),
        "programs.accountmember": (VIEW, ADD, CHANGE),
        "programs.accountinvitation": (VIEW, ADD, CHANGE),
        "programs.transfer": (VIEW, CHANGE),
    },
    "Finanzen": {"programs.transfer": (VIEW,)},
    "Administration": {
        "programs.account": ALL,
        "programs.accountmember": ALL,
        "programs.accountinvitation": ALL,
        "programs.transfer": ALL,
    },
}


def roles_extend(apps, schema_editor):
    _imports.rights_add(apps, RIGHTS)


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty_site", "0004_export_roles"),
        ("programs", "0019_shared_accounts"),
    ]

    operations = [migrations.RunPython(roles_extend, migrations.RunPython.noop)]
