from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from loyalty_site.portal.selectors import referral_received, referral_timelines
from loyalty_site.portal.views.base import PortalMixin
from loyalty_site.portal.wording import REFERRAL_STATUS, referee_steps, referrer_steps


class ReferralsView(PortalMixin, TemplateView):
    """The member's code and link, each invited friend's timeline (joined, first purchase,
    the member's reward) and, for a member who was invited, who invited her and when her
    welcome bonus arrives."""

    template_name = "portal/referrals.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        code = self.membership.referral_code
        friends = [
            {
                "name": timeline.other_name,
                "since": timeline.joined_at,
                "status": timeline.status,
                "status_text": REFERRAL_STATUS.get(timeline.status, timeline.status),
                "points": timeline.points_earned,
                "steps": referrer_steps(timeline),
            }
            for timeline in referral_timelines(membership=self.membership)
        ]
        invited = referral_received(membership=self.membership)
        context.update(
            code=code,
            link=settings.SITE_URL + reverse("portal:referral", args=[code]),
            friends=friends,
            total_points=sum(f["points"] for f in friends),
            invited_by=invited,
            invited_steps=referee_steps(invited) if invited else [],
        )
        return context
