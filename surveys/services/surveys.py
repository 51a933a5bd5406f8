"""Creating surveys with the standard questions of their kind."""

from django.db import transaction

from programs.models import ActionRule, Program
from surveys.models import Question, Survey, SurveyKind

# (code, German, English, scale, low label de/en, high label de/en, required)
_NPS = [
    (
        "recommend",
        "Wie wahrscheinlich ist es, dass Sie uns einem Freund weiterempfehlen?",
        "How likely is it that you would recommend us to a friend?",
        (0, 10),
        ("Unwahrscheinlich", "Not at all likely"),
        ("Sehr wahrscheinlich", "Extremely likely"),
        True,
    ),
    ("why", "Warum? (optional)", "Why? (optional)", None, ("", ""), ("", ""), False),
]
_CSAT = [
    (
        "satisfaction",
        "Wie zufrieden waren Sie mit Ihrem letzten Einkauf bei uns?",
        "How satisfied were you with your last purchase with us?",
        (1, 5),
        ("Sehr unzufrieden", "Very dissatisfied"),
        ("Sehr zufrieden", "Very satisfied"),
        True,
    ),
    (
        "why",
        "Was können wir besser machen? (optional)",
        "What can we do better? (optional)",
        None,
        ("", ""),
        ("", ""),
        False,
    ),
]
_CES = [
    (
        "effort",
        "Es war einfach, meinen Einkauf zu erledigen.",
        "It was easy to complete my purchase.",
        (1, 7),
        ("Stimme überhaupt nicht zu", "Strongly disagree"),
        ("Stimme voll zu", "Strongly agree"),
        True,
    ),
    (
        "why",
        "Was war schwierig? (optional)",
        "What was difficult? (optional)",
        None,
        ("", ""),
        ("", ""),
        False,
    ),
]
_LOW = ("Unwahrscheinlich", "Not at all likely")
_HIGH = ("Sehr wahrscheinlich", "Extremely likely")
_CLI = [
    (
        "recommend",
        "Wie wahrscheinlich ist es, dass Sie uns weiterempfehlen?",
        "How likely are you to recommend us?",
        (0, 10),
        _LOW,
        _HIGH,
        True,
    ),
    (
        "buy_again",
        "Wie wahrscheinlich ist es, dass Sie wieder bei uns kaufen?",
        "How likely are you to buy from us again?",
        (0, 10),
        _LOW,
        _HIGH,
        True,
    ),
    (
        "try_other",
        "Wie wahrscheinlich ist es, dass Sie andere Produkte von uns ausprobieren?",
        "How likely are you to try other products of ours?",
        (0, 10),
        _LOW,
        _HIGH,
        True,
    ),
]
STANDARD_QUESTIONS = {
    SurveyKind.NPS: _NPS,
    SurveyKind.CSAT: _CSAT,
    SurveyKind.CES: _CES,
    SurveyKind.CLI: _CLI,
}
DEFAULT_RECONTACT_DAYS = {
    SurveyKind.NPS: 90,
    SurveyKind.CLI: 90,
    SurveyKind.CSAT: 30,
    SurveyKind.CES: 30,
}


@transaction.atomic
def survey_create(
    *,
    program: Program,
    kind: str,
    name: str,
    action_rule: ActionRule | None = None,
    recontact_days: int | None = None,
    after_purchase: bool = False,
) -> Survey:
    """A survey of ``kind`` with its standard questions (German and English)."""
    if action_rule is not None and action_rule.program_id != program.pk:
        raise ValueError("The action rule belongs to another program.")
    survey = Survey.objects.create(
        program=program,
        kind=kind,
        name=name,
        action_rule=action_rule,
        recontact_days=recontact_days or DEFAULT_RECONTACT_DAYS[SurveyKind(kind)],
        after_purchase=after_purchase,
    )
    survey_questions_ensure(survey)
    return survey


def survey_questions_ensure(survey: Survey) -> None:
    """Give a survey without questions (e.g. added in the admin) its standard questions."""
    if survey.questions.exists():
        return
    Question.objects.bulk_create(
        Question(
            survey=survey,
            position=position,
            code=code,
            text_de=de,
            text_en=en,
            scale_min=scale[0] if scale else None,
            scale_max=scale[1] if scale else None,
            label_low_de=low[0],
            label_low_en=low[1],
            label_high_de=high[0],
            label_high_en=high[1],
            required=required,
        )
        for position, (code, de, en, scale, low, high, required) in enumerate(
            STANDARD_QUESTIONS[SurveyKind(survey.kind)], start=1
        )
    )
