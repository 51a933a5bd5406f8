from django.core.paginator import Paginator
from django.urls import reverse
from django.views.generic import TemplateView

from loyalty_site.portal.forms import HistoryFilterForm
from loyalty_site.portal.selectors import ledger_history, membership_dashboard
from loyalty_site.portal.views.base import PortalMixin
from loyalty_site.portal.wording import (
    HISTORY_KINDS,
    bonus_text,
    entry_text,
    qualifying_text,
    tier_gap_text,
)
from programs.models import EntryKind
from programs.notifications.selectors import notifications_recent
from programs.selectors import entries_campaign_bonuses
from programs.services.account_invitations import (
    invitations_open_for as account_invitations_open_for,
)
from programs.services.account_spending import member_of
from programs.services.link_claims import claims_open_for
from surveys.selectors import invitations_open_for
from surveys.tokens import invitation_token

HISTORY_PAGE_SIZE = 25
SURVEY_CARDS = 3
DASHBOARD_NOTIFICATIONS = 3  # one line each; the notifications page has the texts


def _lines(entries):
    entries = list(entries)
    bonuses = entries_campaign_bonuses(entries)
    return [
        {
            "entry": entry,
            "text": entry_text(entry),
            "bonus": bonus_text(bonuses.get(entry.purchase_id, []))
            if entry.kind == EntryKind.EARN
            else "",
        }
        for entry in entries
    ]


class DashboardView(PortalMixin, TemplateView):
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        dashboard = membership_dashboard(membership=self.membership)
        progress = dashboard.balance.progress
        currency = self.membership.program.currency
        context.update(
            dashboard=dashboard,
            progress=progress,
            gap_text=tier_gap_text(progress, currency),
            qualifying_text=qualifying_text(progress, currency),
            recent=_lines(dashboard.recent),
            notifications=self.notifications(),
            surveys=self.surveys(),
            link_claims=claims_open_for(self.customer),
        )
        if context["shared_account_nav"]:  # no queries for those without an account
            context.update(
                shared_account=member_of(self.membership),
                account_invitations=account_invitations_open_for(self.customer),
            )
        return context

    def surveys(self):
        """Open survey invitations of the customer, each with its signed answer link in
        the language the portal is shown in."""
        invitations = invitations_open_for(self.customer)[:SURVEY_CARDS]
        return [
            {
                "invitation": invitation,
                "url": reverse("surveys:answer", kwargs={"token": invitation_token(invitation.pk)}),
            }
            for invitation in invitations
        ]

    def notifications(self):
        return notifications_recent(
            self.customer, program=self.membership.program, limit=DASHBOARD_NOTIFICATIONS
        )


class HistoryView(PortalMixin, TemplateView):
    template_name = "portal/history.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = HistoryFilterForm(self.request.GET or None)
        filters = {}
        if form.is_bound and form.is_valid():
            kind = form.cleaned_data["kind"]
            filters = {
                "kinds": HISTORY_KINDS[kind][1] if kind else None,
                "date_from": form.cleaned_data["date_from"],
                "date_to": form.cleaned_data["date_to"],
            }
        entries = ledger_history(membership=self.membership, **filters)
        page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(self.request.GET.get("page"))
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            form=form, page=page, lines=_lines(page.object_list), query=query.urlencode()
        )
        return context
