"""The staff audit log in the admin: searchable and filterable, never editable (the table
is append-only in the database as well)."""

from django.apps import apps
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from loyalty_site.core.audit import REDACTED, SECRET
from loyalty_site.core.models import AuditEntry

EMPTY = "\N{EN DASH}"


def model_label(label: str) -> str:
    """A stored ``app_label.model`` as the model's verbose name (the label if it is gone)."""
    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label


def text_shown(text: str) -> str:
    """Stored text with its redacted parts said in the reader's language."""
    return text.replace(REDACTED, str(_("(removed)"))) if text else EMPTY


def shown(value) -> str:
    if value in (None, "", []):
        return EMPTY
    if value == SECRET:
        return str(_("(secret, changed)"))
    return text_shown(str(value))


class DistinctValueFilter(admin.SimpleListFilter):
    """Filter by the values a column holds (actions and kinds of record grow with the apps)."""

    field = ""

    def lookups(self, request, model_admin):
        values = AuditEntry.objects.order_by(self.field).values_list(self.field, flat=True)
        return [(value, self.label(value)) for value in values.distinct()]

    def label(self, value) -> str:
        return value

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class ActionFilter(DistinctValueFilter):
    title = _("action")
    parameter_name = "action"
    field = "action"

    def lookups(self, request, model_admin):
        """Admin actions are named by the description of their latest row."""
        rows = (
            AuditEntry.objects.order_by("action", "-id")
            .distinct("action")
            .values_list("action", "note")
        )
        return [
            (action, AuditEntry(action=action, note=note).action_label) for action, note in rows
        ]


class ModelFilter(DistinctValueFilter):
    title = _("kind of record")
    parameter_name = "model"
    field = "model"

    def label(self, value) -> str:
        return model_label(value)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_name", "action_shown", "model_shown", "record_shown", "object_id")
    list_filter = (ActionFilter, ModelFilter, ("at", admin.DateFieldListFilter))
    search_fields = ("actor_name", "object_repr", "=object_id", "note")
    search_help_text = _("Staff member, record, exact record id or note.")
    date_hierarchy = "at"
    show_full_result_count = False
    fields = (
        "at",
        "actor_name",
        "action_shown",
        "model_shown",
        "object_id",
        "record_shown",
        "changes_shown",
        "note_shown",
        "customer_id",
        "redacted_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("action"), ordering="action")
    def action_shown(self, obj):
        return obj.action_label

    @admin.display(description=_("kind of record"), ordering="model")
    def model_shown(self, obj):
        return model_label(obj.model)

    @admin.display(description=_("record"), ordering="object_repr")
    def record_shown(self, obj):
        return text_shown(obj.object_repr)

    @admin.display(description=_("note"))
    def note_shown(self, obj):
        return text_shown(obj.note)

    @admin.display(description=_("before and after"))
    def changes_shown(self, obj):
        if not obj.changes:
            return EMPTY
        rows = ((name, shown(old), shown(new)) for name, (old, new) in obj.changes.items())
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("field"),
            _("before"),
            _("after"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )
