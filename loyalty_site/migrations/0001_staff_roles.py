"""The staff roles, as Django groups with model permissions, so the admin shows each role
only what it may do (see docs/security.md). A staff member gets a role by joining the group
("Benutzer" in the admin); superusers keep every right.

* Kundenservice (support): reads customers, memberships and the ledger, adds notes.
* Programm-Management (program manager): programs, tiers, rules, rewards, campaigns and
  segments; operates memberships (points adjustments up to STAFF_ADJUSTMENT_LIMIT, tiers).
* Finanzen (finance): the ledger with its monthly settlement and exports, the metrics
  dashboard with the points liability, purchases and redemptions.
* Administration: every permission there is now (user management, API keys, referrals,
  surveys...), adjustments above the limit (``programs.adjust_points_unlimited``) and the
  audit log, which no one may change.

Safe on a fresh database and on one in use: model permissions only exist after a
``post_migrate``, so they are created here first for every app (``create_permissions`` is
idempotent), and groups and permissions are added with get_or_create / add, never reset.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)
ADJUST_UNLIMITED = ("programs", "membership", "adjust_points_unlimited")
ADJUST_UNLIMITED_NAME = "Can adjust points above the staff limit"

MEMBER_PAGES = {
    # A membership's page and its inlines (ledger, holds, tier and status changes).
    "programs.membership": (VIEW,),
    "programs.ledgerentry": (VIEW,),
    "programs.lotallocation": (VIEW,),
    "programs.pointshold": (VIEW,),
    "programs.tierchange": (VIEW,),
    "programs.tiersubscription": (VIEW,),
    "programs.membershipstatuschange": (VIEW,),
}
ROLES = {
    "Kundenservice": {
        "customers.customer": (VIEW,),
        "customers.communicationpreferences": (VIEW,),
        "customers.customernote": (VIEW, ADD),
        **MEMBER_PAGES,
    },
    "Programm-Management": {
        "programs.program": ALL,
        "programs.tier": ALL,
        "programs.earnrule": ALL,
        "programs.actionrule": ALL,
        "programs.reward": ALL,
        "programs.campaign": ALL,
        "programs.segment": ALL,
        "programs.segmentcondition": ALL,
        "programs.whatifrun": (VIEW, ADD),
        "programs.partner": (VIEW,),
        "programs.redemption": (VIEW,),
        "customers.customer": (VIEW,),
        **MEMBER_PAGES,
        "programs.membership": (VIEW, CHANGE),  # the operation pages: adjust, set tier...
        "surveys.metricsdashboard": (VIEW,),
    },
    "Finanzen": {
        "programs.ledgerentry": (VIEW,),  # with the settlement page and its CSV
        "programs.lotallocation": (VIEW,),
        "programs.program": (VIEW,),
        "programs.partner": (VIEW,),
        "programs.purchase": (VIEW,),
        "programs.purchaseline": (VIEW,),
        "programs.refund": (VIEW,),
        "programs.redemption": (VIEW,),
        "surveys.metricsdashboard": (VIEW,),  # the points liability, with exports
        "surveys.metricsnapshot": (VIEW,),
    },
}
ADMINISTRATION = "Administration"
# What no role gets: the audit log is read, never written by hand.
NOBODY = {("core", "add_auditentry"), ("core", "change_auditentry"), ("core", "delete_auditentry")}


def permissions_create(apps):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    app_label, model, codename = ADJUST_UNLIMITED
    Permission.objects.get_or_create(
        content_type=ContentType.objects.get_by_natural_key(app_label, model),
        codename=codename,
        defaults={"name": ADJUST_UNLIMITED_NAME},
    )


def role_permissions(Permission, rights: dict) -> list:
    found = []
    for label, actions in rights.items():
        app_label, model = label.split(".")
        for action in actions:
            found.append(
                Permission.objects.get(
                    content_type__app_label=app_label,
                    content_type__model=model,
                    codename=f"{action}_{model}",
                )
            )
    return found


def roles_create(apps, schema_editor):
    permissions_create(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, rights in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*role_permissions(Permission, rights))
    administration, _created = Group.objects.get_or_create(name=ADMINISTRATION)
    everything = Permission.objects.select_related("content_type")
    administration.permissions.add(
        *(p for p in everything if (p.content_type.app_label, p.codename) not in NOBODY)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sessions", "0001_initial"),
        ("axes", "0010_accessattemptexpiration"),
        ("otp_totp", "0003_add_timestamps"),
        ("django_otp_webauthn", "0004_webauthnuserhandle"),
        ("core", "0001_audit_log"),
        ("customers", "0005_customer_notes"),
        ("portal", "0001_initial"),
        ("programs", "0014_voucher_used_event"),
        ("notifications", "0003_notification_kind_segment_message"),
        ("surveys", "0004_dashboard_figures"),
        ("engagement", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_create, migrations.RunPython.noop, elidable=False)]
