"""The membership page's "Figures" section: what the metrics computed about the member
(engagement and churn risk, the fitted customer value), each with when it was computed.
Read-only: the nightly jobs write them (the fit through ``programs.services.figures``,
the engagement recompute in ``surveys.engagement.score_rows``)."""

from django.contrib import admin
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from programs.admin.base import EMPTY
from programs.models import Membership, MembershipFigures

FIGURE_FIELDS = (
    "figure_engagement_score",
    "figure_churn_risk",
    "figure_engagement_computed_at",
    "figure_probability_alive",
    "figure_expected_purchases",
    "figure_predicted_clv",
    "figure_clv_computed_at",
)

FIGURES_FIELDSET = (
    _("Figures"),
    {
        "fields": FIGURE_FIELDS,
        "description": _(
            "Computed every night: the engagement score and churn risk by the engagement "
            "recompute, probability alive, expected purchases and predicted customer "
            "lifetime value by the BG/NBD and Gamma-Gamma fit of the program. Empty: not "
            "computed yet (no customer value without a purchase)."
        ),
    },
)


def _figures(membership: Membership) -> MembershipFigures | None:
    try:
        return membership.figures
    except MembershipFigures.DoesNotExist:
        return None


def _value(membership: Membership, name: str):
    figures = _figures(membership)
    return getattr(figures, name) if figures is not None else None


def _number(value):
    return EMPTY if value is None else formats.number_format(value, use_l10n=True)


def _moment(value):
    if value is None:
        return EMPTY
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def _label(name: str):
    return MembershipFigures._meta.get_field(name).verbose_name


class MembershipFiguresDisplay:
    """Mixed into the membership admin; its queryset selects ``figures`` with the row."""

    @admin.display(description=_label("engagement_score"))
    def figure_engagement_score(self, obj):
        return _number(_value(obj, "engagement_score"))

    @admin.display(description=_label("churn_risk"), boolean=True)
    def figure_churn_risk(self, obj):
        return _value(obj, "churn_risk")

    @admin.display(description=_label("engagement_computed_at"))
    def figure_engagement_computed_at(self, obj):
        return _moment(_value(obj, "engagement_computed_at"))

    @admin.display(description=_label("probability_alive"))
    def figure_probability_alive(self, obj):
        return _number(_value(obj, "probability_alive"))

    @admin.display(description=_("expected purchases (days with a purchase)"))
    def figure_expected_purchases(self, obj):
        return self._over_horizon(obj, _number(_value(obj, "expected_purchases")))

    @admin.display(description=_label("predicted_clv"))
    def figure_predicted_clv(self, obj):
        value = _number(_value(obj, "predicted_clv"))
        return self._over_horizon(
            obj, EMPTY if value == EMPTY else f"{value} {obj.program.currency}"
        )

    @admin.display(description=_label("clv_computed_at"))
    def figure_clv_computed_at(self, obj):
        return _moment(_value(obj, "clv_computed_at"))

    @staticmethod
    def _over_horizon(obj, shown):
        months = _value(obj, "clv_horizon_months")
        if shown == EMPTY or months is None:
            return shown
        return _("%(value)s in %(months)s months") % {"value": shown, "months": months}
