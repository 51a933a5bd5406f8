"""Every write through the admin lands in the staff audit log (``loyalty_site.core.audit``).

``AuditedAdmin`` is mixed in front of every registered ``ModelAdmin`` by the staff admin
site (``loyalty_site.admin_site.StaffAdminSite.register``), so no admin can forget it:

* saves (add and change pages, list-editable rows) and their inlines: the record's fields
  before and after, read from the database around the save;
* deletes, one by one or selected in the list;
* admin actions: each selected record the action changed (or deleted), under the action's
  name, compared field by field before and after;
* operation pages that call a service and then ``log_change`` / ``log_addition`` (status
  change, refund, referral review...): a row with the page's message, unless the service
  already logged that record precisely (points and tiers do).

The customer a record belongs to (for redaction on erasure) comes from
``audit_customer_id``, which the site overrides: this package knows no app.
"""

import json
from functools import wraps

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.functional import Promise

from loyalty_site.core.audit import (
    AuditAction,
    audit_mark,
    audit_record,
    audit_written,
    label_of,
    snapshots,
    values_changed,
)

ACTION_RUNNING = "_audit_action_running"


class AuditedAdmin(admin.ModelAdmin):
    def audit_customer_id(self, obj) -> int | None:
        """The id of the customer ``obj`` belongs to, if any."""
        return None

    def _audit(self, request, action, obj, changes, *, note="", object_id=None, repr_=None):
        audit_record(
            user=request.user,
            action=action,
            obj=obj,
            object_id=object_id,
            object_repr=repr_,
            changes=changes,
            note=note,
            customer_id=self.audit_customer_id(obj),
        )

    # --- add and change pages, list-editable rows -------------------------------------------
    def save_model(self, request, obj, form, change):
        before = snapshots(type(obj), [obj.pk]).get(obj.pk) if change else None
        form.audit_before = before[1] if before else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = getattr(form, "audit_before", None)
        if before is None or obj.pk is None:
            return
        after = snapshots(type(obj), [obj.pk]).get(obj.pk, (obj, {}))[1]
        changes = values_changed(before, after)
        if changes or not change:
            self._audit(request, AuditAction.CHANGE if change else AuditAction.ADD, obj, changes)
        audit_mark(label_of(obj), obj.pk)

    def save_formset(self, request, form, formset, change):
        model = formset.model
        pks = {id(f.instance): f.instance.pk for f in formset.initial_forms if f.instance.pk}
        before = snapshots(model, pks.values())
        super().save_formset(request, form, formset, change)
        new = getattr(formset, "new_objects", [])
        changed = [obj for obj, _fields in getattr(formset, "changed_objects", [])]
        after = snapshots(model, [obj.pk for obj in [*new, *changed]])
        for obj in new:
            values = after.get(obj.pk, (obj, {}))[1]
            self._audit(request, AuditAction.ADD, obj, values_changed({}, values))
        for obj in changed:
            old, new_values = before.get(obj.pk, (obj, {}))[1], after.get(obj.pk, (obj, {}))[1]
            self._audit(request, AuditAction.CHANGE, obj, values_changed(old, new_values))
        for obj in getattr(formset, "deleted_objects", []):
            pk = pks.get(id(obj))
            if pk in before:
                changes = values_changed(before[pk][1], {})
                self._audit(request, AuditAction.DELETE, obj, changes, object_id=pk)

    # --- deletes -----------------------------------------------------------------------------
    def delete_model(self, request, obj):
        pk, customer_id, repr_ = obj.pk, self.audit_customer_id(obj), str(obj)
        before = snapshots(type(obj), [pk]).get(pk, (obj, {}))[1]
        super().delete_model(request, obj)
        self._record_deleted(request, obj, pk, repr_, before, customer_id)

    def delete_queryset(self, request, queryset):
        rows = snapshots(queryset.model, queryset.values_list("pk", flat=True))
        gone = [(pk, obj, str(obj), self.audit_customer_id(obj)) for pk, (obj, _v) in rows.items()]
        super().delete_queryset(request, queryset)
        for pk, obj, repr_, customer_id in gone:
            self._record_deleted(request, obj, pk, repr_, rows[pk][1], customer_id)

    def _record_deleted(self, request, obj, pk, repr_, before, customer_id):
        audit_record(
            user=request.user,
            action=AuditAction.DELETE,
            model=label_of(obj),
            object_id=pk,
            object_repr=repr_,
            changes=values_changed(before, {}),
            customer_id=customer_id,
        )

    # --- actions -----------------------------------------------------------------------------
    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            name: (
                func if name == "delete_selected" else self._audited(func, name, text),
                name,
                text,
            )
            for name, (func, name, text) in actions.items()
        }

    def _audited(self, func, name, description):
        """``func`` logging each record it changed (the selection before and after)."""

        @wraps(func)
        def run(modeladmin, request, queryset):
            model = queryset.model
            before = snapshots(model, queryset.values_list("pk", flat=True))
            setattr(request, ACTION_RUNNING, True)
            try:
                response = func(modeladmin, request, queryset)
            finally:
                setattr(request, ACTION_RUNNING, False)
            after = snapshots(model, before)
            for pk, (obj, old) in before.items():
                new = after.get(pk, (obj, {}))[1]
                if changes := values_changed(old, new):
                    self._audit(request, name, obj, changes, note=str(description), object_id=pk)
            return response

        return run

    # --- operation pages ---------------------------------------------------------------------
    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._record_operation(request, AuditAction.ADD, obj, message)
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._record_operation(request, AuditAction.CHANGE, obj, message)
        return entry

    def _record_operation(self, request, action, obj, message):
        if getattr(request, ACTION_RUNNING, False) or audit_written(label_of(obj), obj.pk):
            return
        changes = {}
        if action == AuditAction.ADD:
            changes = values_changed({}, snapshots(type(obj), [obj.pk]).get(obj.pk, (obj, {}))[1])
        self._audit(request, action, obj, changes, note=message_text(message))


def message_text(message) -> str:
    """The admin's change message as a reader sees it (it may be a structured list)."""
    if isinstance(message, str | Promise):
        return str(message)
    entry = LogEntry(change_message=json.dumps(message, cls=DjangoJSONEncoder))
    return entry.get_change_message()
