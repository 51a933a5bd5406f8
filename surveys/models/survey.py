from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _


class SurveyKind(models.TextChoices):
    NPS = "nps", _("Net Promoter Score (0-10)")
    CSAT = "csat", _("Customer satisfaction (1-5)")
    CES = "ces", _("Customer effort (1-7)")
    CLI = "cli", _("Customer Loyalty Index (three 0-10 questions)")


class Survey(models.Model):
    """A questionnaire of one kind in one program. Its questions are created with it."""

    program = models.ForeignKey(
        "programs.Program",
        verbose_name=_("program"),
        on_delete=models.PROTECT,
        related_name="surveys",
    )
    kind = models.CharField(_("kind"), max_length=4, choices=SurveyKind.choices)
    name = models.CharField(_("name"), max_length=120)
    recontact_days = models.PositiveIntegerField(
        _("recontact interval (days)"),
        default=90,
        help_text=_("A customer is invited to this survey at most once in this many days."),
    )
    valid_days = models.PositiveIntegerField(
        _("link valid (days)"), default=14, help_text=_("How long an invitation link works.")
    )
    action_rule = models.ForeignKey(
        "programs.ActionRule",
        verbose_name=_("points for answering"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("An action rule of the program; its points are credited once per answer."),
    )
    after_purchase = models.BooleanField(
        _("invite after purchases"),
        default=False,
        help_text=_("Invite members a few days after a purchase (SURVEY_PURCHASE_DELAY_DAYS)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["program", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(recontact_days__gte=1), name="survey_recontact_days_gte_1"
            ),
            models.CheckConstraint(condition=Q(valid_days__gte=1), name="survey_valid_days_gte_1"),
        ]

    def __str__(self) -> str:
        return self.name


class Question(models.Model):
    """One question, in German and English. ``scale_min``/``scale_max`` empty: free text."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(_("position"))
    code = models.SlugField(_("code"), help_text=_("recommend, why, satisfaction, effort..."))
    text_de = models.CharField(_("text (German)"), max_length=300)
    text_en = models.CharField(_("text (English)"), max_length=300)
    scale_min = models.SmallIntegerField(_("lowest answer"), null=True, blank=True)
    scale_max = models.SmallIntegerField(_("highest answer"), null=True, blank=True)
    label_low_de = models.CharField(_("label of the lowest (German)"), max_length=60, blank=True)
    label_low_en = models.CharField(_("label of the lowest (English)"), max_length=60, blank=True)
    label_high_de = models.CharField(_("label of the highest (German)"), max_length=60, blank=True)
    label_high_en = models.CharField(_("label of the highest (English)"), max_length=60, blank=True)
    required = models.BooleanField(_("required"), default=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["survey", "position"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "position"], name="question_unique_position"),
            models.UniqueConstraint(fields=["survey", "code"], name="question_unique_code"),
            models.CheckConstraint(
                condition=Q(scale_min__isnull=True, scale_max__isnull=True)
                | Q(scale_min__lt=models.F("scale_max")),
                name="question_scale_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.text_de

    @property
    def is_scale(self) -> bool:
        return self.scale_min is not None

    def _in_language(self, field: str) -> str:
        english = translation.get_language() == "en"
        return getattr(self, f"{field}_en" if english else f"{field}_de") or getattr(
            self, f"{field}_de"
        )

    @property
    def text(self) -> str:
        return self._in_language("text")

    @property
    def label_low(self) -> str:
        return self._in_language("label_low")

    @property
    def label_high(self) -> str:
        return self._in_language("label_high")

    @property
    def scale(self) -> range:
        return range(self.scale_min, self.scale_max + 1) if self.is_scale else range(0)


class Channel(models.TextChoices):
    PURCHASE = "purchase", _("After a purchase")
    STAFF = "staff", _("Staff, for a segment")
    PARTNER = "partner", _("Partner API")


class InvitationEmailState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    REMINDED = "reminded", _("Reminder sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not sent (switched off by the customer)")


class Invitation(models.Model):
    """One invitation of one member to one survey, answered or dismissed at most once.

    Its e-mails form an outbox (``surveys.services.invitation_emails``): ``email_state``
    goes from pending to sent (the invitation e-mail) to reminded (the one reminder), or
    to failed, with ``email_attempts``, ``email_last_error`` and ``email_next_attempt_at``
    (the retry time and a worker's lease) for the e-mail on its way.
    """

    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.PROTECT, related_name="invitations"
    )
    membership = models.ForeignKey(
        "programs.Membership",
        verbose_name=_("membership"),
        on_delete=models.PROTECT,
        related_name="survey_invitations",
    )
    # Denormalised for the throttle, which is per customer across programs.
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="survey_invitations",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    partner = models.ForeignKey(
        "programs.Partner",
        verbose_name=_("partner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="survey_invitations",
    )
    purchase = models.ForeignKey(
        "programs.Purchase",
        verbose_name=_("purchase"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="survey_invitations",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    language = models.CharField(_("language"), max_length=5, default="de")
    created_at = models.DateTimeField(_("created"), db_index=True)
    expires_at = models.DateTimeField(_("link expires"))
    sent_at = models.DateTimeField(_("e-mail sent"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    dismissed_at = models.DateTimeField(_("dismissed"), null=True, blank=True)
    email_state = models.CharField(
        _("e-mail"),
        max_length=10,
        choices=InvitationEmailState.choices,
        default=InvitationEmailState.PENDING,
    )
    email_attempts = models.PositiveSmallIntegerField(_("e-mail attempts"), default=0)
    email_last_error = models.CharField(_("last e-mail error"), max_length=500, blank=True)
    email_next_attempt_at = models.DateTimeField(
        _("next e-mail attempt"), null=True, blank=True, default=timezone.now
    )

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "purchase"],
                condition=Q(purchase__isnull=False),
                name="invitation_unique_purchase",
            ),
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True) | Q(dismissed_at__isnull=True),
                name="invitation_answered_or_dismissed",
            ),
            models.CheckConstraint(
                condition=Q(reminded_at__isnull=True) | Q(sent_at__isnull=False),
                name="invitation_reminded_after_sent",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="invitation_customer_recent"),
            models.Index(
                fields=["email_next_attempt_at"],
                condition=Q(email_state="pending"),
                name="invitation_email_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey} -> {self.customer}"

    @property
    def is_open(self) -> bool:
        return self.answered_at is None and self.dismissed_at is None


class ResponseStatus(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    DISMISSED = "dismissed", _("Dismissed (declined to answer)")


class Response(models.Model):
    """The one outcome of an invitation. Program, tier, partner and the main score are
    copied here at answer time so that metrics aggregate without joins."""

    invitation = models.OneToOneField(
        Invitation, verbose_name=_("invitation"), on_delete=models.PROTECT, related_name="response"
    )
    status = models.CharField(_("status"), max_length=10, choices=ResponseStatus.choices)
    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.PROTECT, related_name="responses"
    )
    kind = models.CharField(_("kind"), max_length=4, choices=SurveyKind.choices)
    program = models.ForeignKey(
        "programs.Program", verbose_name=_("program"), on_delete=models.PROTECT, related_name="+"
    )
    membership = models.ForeignKey(
        "programs.Membership",
        verbose_name=_("membership"),
        on_delete=models.PROTECT,
        related_name="survey_responses",
    )
    tier = models.ForeignKey(
        "programs.Tier",
        verbose_name=_("tier then"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    partner = models.ForeignKey(
        "programs.Partner",
        verbose_name=_("partner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    score = models.SmallIntegerField(
        _("score"),
        null=True,
        blank=True,
        help_text=_("The main answer: NPS 0-10, CSAT 1-5, CES 1-7, CLI: recommend 0-10."),
    )
    cli_total = models.SmallIntegerField(
        _("CLI sum of the three answers"), null=True, blank=True, editable=False
    )
    comment = models.TextField(_("comment"), blank=True)
    submitted_at = models.DateTimeField(_("submitted"), db_index=True)

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="dismissed", score__isnull=True) | Q(status="answered"),
                name="response_dismissed_has_no_score",
            ),
        ]
        indexes = [
            models.Index(fields=["program", "kind", "submitted_at"], name="response_metrics"),
        ]

    def __str__(self) -> str:
        return f"{self.survey}: {self.score if self.score is not None else self.status}"


class Answer(models.Model):
    """One question's answer: a number on its scale, a text, or skipped (not the same as 0)."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    value = models.SmallIntegerField(_("value"), null=True, blank=True)
    text = models.TextField(_("text"), blank=True)
    skipped = models.BooleanField(_("skipped"), default=False)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["response", "question__position"]
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_unique"),
            models.CheckConstraint(
                condition=Q(skipped=False) | Q(value__isnull=True, text=""),
                name="answer_skipped_is_empty",
            ),
        ]

    def __str__(self) -> str:
        return "-" if self.skipped else str(self.value if self.value is not None else self.text)
