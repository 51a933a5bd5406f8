"""Building blocks shared by the staff admin: read-only admins for rows only services
write, object tools (buttons on a change page), and one page that renders a small form
for an admin operation, so every operation looks and fails the same way."""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from programs.errors import LoyaltyError

FORM_PAGE_TEMPLATE = "admin/programs/form_page.html"
CHANGE_FORM_WITH_TOOLS = "admin/programs/change_form_with_tools.html"


class ServiceWrittenAdmin(admin.ModelAdmin):
    """Rows that only services write: staff may look, never edit or delete here.

    Operations (adjust, refund, approve...) are separate views gated by
    ``has_operate_permission``: the model's change permission, which is what a staff role
    gets to act on these rows through the services. With ``allow_add`` the add page is
    replaced by a form that calls a service (enroll, record a purchase)."""

    change_form_template = CHANGE_FORM_WITH_TOOLS
    allow_add = False

    def has_add_permission(self, request):
        return self.allow_add and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_operate_permission(self, request, obj=None):
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def object_tools(self, request, obj) -> list[tuple[str, str]]:
        """(label, url) pairs shown as buttons on the change page."""
        return []

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["object_tools"] = self.object_tools(request, obj) if obj is not None else []
        return super().render_change_form(request, context, add, change, form_url, obj)

    def operated_object(self, request, object_id):
        """The object an operation view acts on, after checking the staff may act."""
        if not self.has_operate_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        return obj

    def admin_url(self, name: str, *args) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}",
            args=args,
        )


class ReadOnlyInline(admin.TabularInline):
    template = "admin/programs/tabular_readonly.html"  # scrollable on phones: focusable
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LatestRowsFormSet(forms.BaseInlineFormSet):
    """An inline formset showing only the newest ``limit`` rows (a ledger can be long)."""

    limit = 50

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = list(super().get_queryset()[: self.limit])
            for row in self._latest:  # each row's str() names its parent: no query per row
                setattr(row, self.fk.name, self.instance)
        return self._latest


# What an empty value shows, in lists and on change pages alike (a display method that
# returned None would print "None" on a change page).
EMPTY = "\N{EN DASH}"


def tier_label(tier) -> str:
    """A tier by name (its str() would load the program), or the empty value."""
    return tier.name if tier is not None else EMPTY


def field_shown(name: str, label, *, ordering: str | None = None):
    """A read-only column or field showing the model field ``name`` under ``label``: some
    relations carry no translated verbose name, and the admin must speak German."""

    def show(self, obj):
        value = getattr(obj, name)
        if value is None:
            return EMPTY
        opts = getattr(value, "_meta", None)
        if opts is None or value.__class__ not in self.admin_site._registry:
            return value
        url = reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[value.pk]
        )
        return format_html('<a href="{}">{}</a>', url, value)

    show.__name__ = f"{name}_shown"
    return admin.display(description=label, ordering=ordering or name)(show)


def titled_filter(title, base=admin.RelatedFieldListFilter):
    """A field's list filter under ``title`` (instead of the field's verbose name):
    ``list_filter = [("program", titled_filter(_("program")))]``."""

    class TitledFilter(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.title = title

    return TitledFilter


def add_domain_error(
    form: forms.Form, error: LoyaltyError, *, fields_by_code: dict[str, str] | None = None
) -> None:
    """Show a service's domain error on the field it names (or, for errors that name none,
    the field ``fields_by_code`` gives for its code), else on the whole form."""
    field = error.details.get("field") or (fields_by_code or {}).get(error.code)
    form.add_error(field if field in form.fields else None, str(error.message))


def render_form_page(
    model_admin: admin.ModelAdmin,
    request,
    *,
    form: forms.Form,
    title: str,
    submit_label: str,
    obj=None,
    intro: str = "",
    hidden: list[tuple[str, str]] | tuple = (),
) -> TemplateResponse:
    """The page for one admin operation: a form, its errors, a submit button."""
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "form": form,
        "original": obj,
        "media": model_admin.media + form.media,
        "submit_label": submit_label,
        "intro": intro,
        "hidden": hidden,
    }
    return TemplateResponse(request, FORM_PAGE_TEMPLATE, context)
