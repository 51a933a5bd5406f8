"""What-if runs in the admin: a proposed change replayed against the last months of real
purchases before staff save it (``programs.what_if``).

* From a program's page, "What if: tiers" opens a form with each tier's threshold (today's
  to start with), the qualification window and metric and the months to replay.
* The campaign admin's "What if?" button posts its whole change form to
  ``admin:programs_whatifrun_campaign`` (``?campaign=<id>`` for a saved campaign); the form
  is read, never saved, and replayed as a draft.
* Both start a run and lead to its page: a progress bar while the worker computes (the
  page asks the status URL every two seconds, ``programs/what_if.js``), the result's tables
  when it is done. Runs are read-only here."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from programs.admin.base import ServiceWrittenAdmin, add_domain_error, render_form_page
from programs.admin.what_if_pages import (
    TierWhatIfForm,
    campaign_form,
    proposal_rows,
    result_context,
)
from programs.models import Campaign, Program, WhatIfKind, WhatIfRun, WhatIfStatus
from programs.what_if.campaign import draft_data
from programs.what_if.runs import what_if_runs_sweep, what_if_start
from programs.what_if.summary import InvalidProposal

RUN_TEMPLATE = "admin/programs/whatifrun/run.html"


@admin.register(WhatIfRun)
class WhatIfRunAdmin(ServiceWrittenAdmin):
    list_display = ("created_at", "program", "kind", "months", "status", "progress", "created_by")
    list_filter = ("kind", "status", "program")
    list_select_related = ("program", "created_by")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("program", "created_by")

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("tiers/<int:program_id>/", view(self.tiers_view), name=f"{info}_tiers"),
            path("campaign/", view(self.campaign_view), name=f"{info}_campaign"),
            path("<int:run_id>/status/", view(self.status_view), name=f"{info}_status"),
            *super().get_urls(),
        ]

    # --- starting a run ------------------------------------------------------------------
    def tiers_view(self, request, program_id: int):
        if not request.user.has_perm("programs.change_program"):
            raise PermissionDenied
        program = get_object_or_404(Program, pk=program_id)
        form = TierWhatIfForm(request.POST if request.method == "POST" else None, program=program)
        if form.is_valid():
            try:
                run = what_if_start(
                    program=program,
                    kind=WhatIfKind.TIERS,
                    proposal=form.proposal(),
                    months=form.cleaned_data["months"],
                    user=request.user,
                )
            except InvalidProposal as error:
                add_domain_error(form, error)
            else:
                return redirect(self.admin_url("change", run.pk))
        return render_form_page(
            self,
            request,
            form=form,
            title=_("What if: tiers of %(program)s") % {"program": program.name},
            submit_label=_("Replay the purchases"),
            intro=_(
                "The purchases of the last months are replayed with today's rules and with "
                "these; nothing is saved. Members start the period in the lowest tier and "
                "move up as their purchases are replayed."
            ),
        )

    def campaign_view(self, request):
        """The campaign form's fields (posted by the campaign admin, or corrected here)."""
        if not (
            request.user.has_perm("programs.add_campaign")
            or request.user.has_perm("programs.change_campaign")
        ):
            raise PermissionDenied
        if request.method != "POST":
            return redirect(reverse(f"{self.admin_site.name}:programs_campaign_changelist"))
        saved = None
        if request.GET.get("campaign"):
            saved = get_object_or_404(Campaign, pk=request.GET["campaign"])
        form = campaign_form(self.admin_site, request, saved)
        if form.is_valid():
            campaign = form.instance  # built by the form, never saved
            tier_ids = [tier.pk for tier in form.cleaned_data.get("tiers") or ()]
            try:
                run = what_if_start(
                    program=campaign.program,
                    kind=WhatIfKind.CAMPAIGN,
                    proposal=draft_data(campaign, tier_ids, campaign_id=saved and saved.pk),
                    months=form.cleaned_data["what_if_months"],
                    user=request.user,
                )
            except InvalidProposal as error:
                add_domain_error(form, error)
            else:
                return redirect(self.admin_url("change", run.pk))
        return render_form_page(
            self,
            request,
            form=form,
            title=_("What if: campaign"),
            submit_label=_("Replay the purchases"),
            intro=_("The campaign cannot be replayed like this; correct it here."),
        )

    # --- a run -------------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self._run(request, object_id)
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _run_title(run),
            "run": run,
            "done": run.status == WhatIfStatus.DONE,
            "proposal_rows": proposal_rows(run),
            "status_url": self.admin_url("status", run.pk),
        }
        if run.status == WhatIfStatus.DONE:
            context.update(result_context(run))
        return TemplateResponse(request, RUN_TEMPLATE, context)

    def status_view(self, request, run_id: int):
        what_if_runs_sweep()
        run = self._run(request, run_id)
        return JsonResponse(
            {
                "status": run.status,
                "status_label": run.get_status_display(),
                "progress": run.progress,
                "finished": run.status in (WhatIfStatus.DONE, WhatIfStatus.FAILED),
            }
        )

    def _run(self, request, object_id) -> WhatIfRun:
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = self.get_object(request, str(object_id))
        if run is None:
            raise Http404
        return run


def _run_title(run: WhatIfRun) -> str:
    if run.kind == WhatIfKind.TIERS:
        return _("What if: tiers of %(program)s") % {"program": run.program.name}
    return f"{_('What if: campaign')} \N{EN DASH} {run.proposal.get('name') or ''}"
