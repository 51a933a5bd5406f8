"""factory-boy factories shared by the test suite. Domain writes in tests go through the
services; factories only build the configuration (programs, tiers, rules) and actors."""

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.emails import email_normalize
from customers.models import Customer
from programs.models import MembershipFigures, Partner, Program, Reward, Tier
from surveys.engagement.scores import COMPONENTS


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    name = factory.Sequence(lambda n: f"Programm {n}")
    slug = factory.Sequence(lambda n: f"program-{n}")
    points_per_unit = Decimal(1)
    pending_days = 0
    # Tests record purchases and actions from years ago.
    history_starts_on = date(2000, 1, 1)
    referral_enabled = True
    referrer_points = 500
    referee_points = 200
    referral_min_purchase = Decimal("20.00")


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    program = factory.SubFactory(ProgramFactory)
    name = factory.Sequence(lambda n: f"Tier {n}")
    rank = factory.Sequence(lambda n: n)
    threshold = Decimal(0)


def standard_tiers(program: Program) -> dict[str, Tier]:
    """Bronze (0), Silber (500), Gold (1500, x1.5 points), Platin (5000, x2)."""
    spec = [
        ("Bronze", 0, "1"),
        ("Silber", 500, "1.25"),
        ("Gold", 1500, "1.5"),
        ("Platin", 5000, "2"),
    ]
    return {
        name: Tier.objects.create(
            program=program,
            name=name,
            rank=rank,
            threshold=Decimal(threshold),
            earn_multiplier=Decimal(mult),
        )
        for rank, (name, threshold, mult) in enumerate(spec)
    }


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")

    @factory.post_generation
    def programs(self, create, extracted, **kwargs):
        if create and extracted:
            self.programs.add(*extracted)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"kunde{n}@example.com")
    email_normalized = factory.LazyAttribute(lambda c: email_normalize(c.email))
    first_name = "Erika"
    last_name = factory.Sequence(lambda n: f"Muster{n}")


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    program = factory.SubFactory(ProgramFactory)
    name = factory.Sequence(lambda n: f"Prämie {n}")
    points_cost = 100


def now():
    return timezone.now()


def enrolled(program: Program, *, days: int = 0, **customer):
    """A new customer enrolled in ``program``, ``days`` ago (the minimum age for giving
    points counts from then)."""
    from datetime import timedelta

    from programs.services.memberships import membership_enroll

    membership, _ = membership_enroll(
        customer=CustomerFactory(**customer),
        program=program,
        joined_at=timezone.now() - timedelta(days=days),
    )
    return membership


def shared_account(program: Program, kind: str = "business", *, manager=None, **members):
    """A shared account through the services: ``manager`` (created if not given) joins with
    the kind's managing role; ``members`` maps a role to the memberships joining with it."""
    from programs.services.accounts import account_create, account_member_add

    manager = manager or enrolled(program)
    account = account_create(program=program, kind=kind, name=f"{kind} account", manager=manager)
    for role, memberships in members.items():
        for membership in memberships:
            account_member_add(account=account, membership=membership, role=role)
    return account


def engagement_scored(membership, score, *, at=None, churn_risk=False):
    """Give ``membership`` an engagement score as a recompute would (every component 0),
    in the figures where the score lives."""
    figures, _ = MembershipFigures.objects.update_or_create(
        membership=membership,
        defaults={
            "engagement_score": Decimal(score),
            "engagement_computed_at": at or timezone.now(),
            "churn_risk": churn_risk,
            **{f"engagement_{name}": 0.0 for name in COMPONENTS},
        },
    )
    return figures
