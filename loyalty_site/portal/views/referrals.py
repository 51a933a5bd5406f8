from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from loyalty_site.portal.selectors import referrals_made
from loyalty_site.portal.views.base import PortalMixin
from loyalty_site.portal.wording import REFERRAL_STATUS, rejection_text
from programs.models import ReferralStatus


class ReferralsView(PortalMixin, TemplateView):
    template_name = "portal/referrals.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        code = self.membership.referral_code
        friends = []
        for referral in referrals_made(membership=self.membership):
            friend = referral.referee.customer
            friends.append(
                {
                    "name": f"{friend.first_name} {friend.last_name[:1]}."
                    if friend.last_name
                    else friend.first_name,
                    "since": referral.created_at,
                    "status": referral.status,
                    "status_text": REFERRAL_STATUS.get(referral.status, referral.status),
                    "reason": rejection_text(referral.rejection_reason)
                    if referral.status == ReferralStatus.REJECTED
                    else "",
                    "points": referral.points_earned,
                }
            )
        context.update(
            code=code,
            link=settings.SITE_URL + reverse("portal:referral", args=[code]),
            friends=friends,
            total_points=sum(f["points"] for f in friends),
        )
        return context
