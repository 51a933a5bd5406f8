"""What every kind of import needs while it checks and writes rows: the job, the file's
format, the partner's programs and their tiers, who imports, and the running totals of
the dry run."""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from programs.imports.cells import CellError, text
from programs.imports.reading import Format
from programs.models import ImportJob, Program, Tier, TierKind
from programs.services.actions import ADJUST_UNLIMITED

BOOK_POINTS = "programs.change_membership"  # the right to adjust points, in the admin too
# The columns every kind of file has: whose row it is (the partner's customer number) and
# in which program. Headers are compared as ``reading.header_key`` spells them.
MEMBER_ALIASES = {
    "external_id": "external_id",
    "externe_id": "external_id",
    "kundennummer": "external_id",
    "kunden_nr": "external_id",
    "customer_id": "external_id",
    "member_id": "external_id",
    "program": "program",
    "programm": "program",
}


def unknown_member(row: "Row") -> tuple[str, str]:
    """The problem of a row whose customer number is no member of its program."""
    return (
        "external_id",
        _(
            "No member '%(id)s' in %(program)s. Import the member first (members "
            "import) or correct the number."
        )
        % {"id": row.external_id, "program": row.program.name},
    )


@dataclass
class Row:
    """A parsed row: its line, the membership's program and the kind's values."""

    line: int
    external_id: str
    program: Program
    data: dict
    action: str = ""  # what the write will do, decided by the kind's ``classify``
    detail: tuple = ()


@dataclass
class Context:
    job: ImportJob
    fmt: Format
    now: datetime = field(default_factory=timezone.now)
    programs: dict = field(default_factory=dict)  # slug, name, id -> Program
    tiers: dict = field(default_factory=dict)  # program id -> {lower name: Tier}
    may_book_points: bool = False
    points_limit: int | None = None  # None: no limit
    seen: dict = field(default_factory=dict)  # row key -> first line
    actions: Counter = field(default_factory=Counter)
    points: int = 0
    money: dict = field(default_factory=lambda: defaultdict(Decimal))
    earliest: dict = field(default_factory=dict)  # program id -> earliest date
    digest: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    columns: list = field(default_factory=list)  # the kind's columns the file has
    header: list = field(default_factory=list)  # the file's first line

    @classmethod
    def for_job(cls, job: ImportJob, fmt: Format) -> "Context":
        context = cls(job=job, fmt=fmt)
        programs = list(job.partner.programs.all())
        for program in programs:
            for key in (program.slug, program.name, str(program.pk)):
                context.programs[key.lower()] = program
        for tier in Tier.objects.filter(program__in=programs, kind=TierKind.QUALIFIED):
            context.tiers.setdefault(tier.program_id, {})[tier.name.lower()] = tier
        user = job.created_by
        if job.via_api:
            context.may_book_points = True  # the partner's own program, its own key
        elif user is not None:
            context.may_book_points = user.has_perm(BOOK_POINTS)
            if not user.has_perm(ADJUST_UNLIMITED):
                context.points_limit = settings.STAFF_ADJUSTMENT_LIMIT
        return context

    def program_of(self, values: dict) -> Program:
        name = text(values, "program", max_length=120)
        if not name:
            return self.job.program
        program = self.programs.get(name.lower())
        if program is None:
            known = ", ".join(sorted({p.slug for p in self.programs.values()}))
            raise CellError(
                "program",
                _("There is no program '%(name)s' for this partner. Use one of: %(known)s.")
                % {"name": name, "known": known},
            )
        return program

    def once(self, key, line: int, column: str) -> None:
        """Refuse a row whose key an earlier row of the file already had."""
        first = self.seen.setdefault(key, line)
        if first != line:
            raise CellError(
                column,
                _("The same row key is already in line %(line)s. Keep one of the two rows.")
                % {"line": first},
            )

    def history(self, program: Program, when: date | datetime | None) -> None:
        if when is None:
            return
        day = timezone.localdate(when) if isinstance(when, datetime) else when
        known = self.earliest.get(program.pk)
        if known is None or day < known:
            self.earliest[program.pk] = day

    def planned(self, row: Row) -> None:
        """Count a row's planned action in the totals and the fingerprint."""
        self.actions[row.action] += 1
        self.digest.update(repr((row.line, row.external_id, row.action, row.detail)).encode())

    def failed(self, line: int, column: str, message: str) -> None:
        self.digest.update(repr((line, column, message)).encode())
