"""Notifications move to the engine (app ``notifications``, programs/notifications) and the
engagement scores with the portal activity to the surveys (app ``engagement``,
surveys/engagement). Their tables stay where they are (each model names its old table);
only Django's state moves, and the content types with their permissions follow, so staff
keep the rights they had."""

from django.db import migrations

MOVED = {
    "notification": "notifications",
    "engagementweights": "engagement",
    "engagementscore": "engagement",
    "engagementscoreday": "engagement",
    "portalactivityday": "engagement",
}


def content_types_follow(apps, schema_editor, *, back=False):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, label in MOVED.items():
        old, new = ("customers", label) if not back else (label, "customers")
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def content_types_return(apps, schema_editor):
    content_types_follow(apps, schema_editor, back=True)


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0003_engagement_score_window"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.RemoveField(
                model_name='engagementscore',
                name='customer',
            ),
            migrations.RemoveField(
                model_name='engagementscore',
                name='membership',
            ),
            migrations.RemoveField(
                model_name='engagementscoreday',
                name='membership',
            ),
            migrations.DeleteModel(
                name='EngagementWeights',
            ),
            migrations.RemoveField(
                model_name='notification',
                name='customer',
            ),
            migrations.RemoveField(
                model_name='notification',
                name='membership',
            ),
            migrations.RemoveField(
                model_name='portalactivityday',
                name='customer',
            ),
            migrations.DeleteModel(
                name='EngagementScore',
            ),
            migrations.DeleteModel(
                name='EngagementScoreDay',
            ),
            migrations.DeleteModel(
                name='Notification',
            ),
            migrations.DeleteModel(
                name='PortalActivityDay',
            ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_return),
    ]
