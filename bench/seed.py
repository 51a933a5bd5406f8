"""The bench data set, written fast: COPY into the real tables after ``migrate``, then the
ledger derived from the purchases with set-based SQL, so that every membership's cached
balance equals its ledger (sum of entry points) and its lots, as the services keep them.

Ids are assigned here (1..n) so rows can reference each other without a round trip; the
sequences are moved past them at the end. Columns the seeder does not know (added by a
later migration) get their model default, or NULL where the field allows it.
"""

import json
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from django.db.models import NOT_PROVIDED

from bench.logins import logins

HISTORY_DAYS = 745  # a little over 24 months: the oldest lots are due to expire
QUIET_DAYS = 15  # the newest history is older than the return window: all released
COPY_CHUNK = 50_000


def _now() -> datetime:
    return datetime.now(UTC)


def _extra_columns(model, given: list[str]) -> tuple[list[str], list]:
    """Columns of ``model`` not in ``given`` that need a value (NOT NULL, no DB default)."""
    now = _now()
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in given or field.primary_key or field.db_default is not NOT_PROVIDED:
            continue  # the database fills a column with a default of its own
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.default is not NOT_PROVIDED:
            value = field.get_default()
            if isinstance(value, dict | list):
                value = json.dumps(value)
        elif field.null:
            continue
        elif field.empty_strings_allowed:
            value = ""
        else:
            raise RuntimeError(f"bench seed: no value for {model.__name__}.{field.name}")
        columns.append(field.column)
        values.append(value)
    return columns, values


def copy_rows(conn: psycopg.Connection, model, columns: list[str], rows) -> int:
    """COPY ``rows`` (tuples matching ``columns``) into the model's table."""
    extra_columns, extra_values = _extra_columns(model, columns)
    names = ", ".join([*columns, *extra_columns])
    count = 0
    extra = tuple(extra_values)
    with conn.cursor() as cursor:
        sql = f"COPY {model._meta.db_table} ({names}) FROM STDIN"
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row + extra)
                count += 1
    return count


def insert_select(conn, model, columns: list[str], select_sql: str, params=()) -> int:
    """INSERT INTO the model's table (columns + defaults) SELECT ... (set-based)."""
    extra_columns, extra_values = _extra_columns(model, columns)
    names = ", ".join([*columns, *extra_columns])
    placeholders = "".join(", %s" for _ in extra_values)
    sql = select_sql.replace("/*extra*/", placeholders)
    with conn.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({names}) {sql}", (*extra_values, *params)
        )
        return cursor.rowcount


def set_sequences(conn, models) -> None:
    with conn.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 1))"
            )


def reserve_ids(conn, model, count: int) -> int:
    """The first of ``count`` consecutive ids no one else will be given: the table stays
    locked against inserts until the caller commits (the web server may still insert)."""
    table = model._meta.db_table
    with conn.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(max(id), 0) FROM {table}) + %s) - %s + 1",
            (count, count),
        )
        return cursor.fetchone()[0]


def _amount(rng: random.Random) -> tuple[Decimal, Decimal]:
    """Two line totals of a basket: log-normal, median about 35 EUR in all."""
    total = min(max(rng.lognormvariate(3.5, 0.7), 2.0), 900.0)
    first = round(total * rng.uniform(0.3, 0.8), 2)
    second = round(total - first, 2)
    return Decimal(str(max(first, 1.0))), Decimal(str(max(second, 1.0)))


class Seeder:
    def __init__(self, db_url: str, scale, log):
        self.db_url = db_url
        self.scale = scale
        self.log = log
        self.rng = random.Random(8)
        self.program = self.partner = self.base_tier = None
        self.api_key = ""
        self.timings: dict[str, float] = {}

    def connect(self, *, replica: bool = False) -> psycopg.Connection:
        """``replica``: foreign-key triggers off for this connection, if the user may do
        that (a superuser). The seeded rows are derived from each other by joins, so they
        are consistent by construction, and checking tens of millions of deferred foreign
        keys at commit took longer than writing the rows at the large scale."""
        conn = psycopg.connect(self.db_url.replace("postgres://", "postgresql://", 1))
        if replica:
            try:
                conn.execute("SET session_replication_role = replica")
                conn.commit()
            except psycopg.errors.InsufficientPrivilege:
                conn.rollback()
        return conn

    def _timed(self, name, func, *args):
        started = time.monotonic()
        result = func(*args)
        self.timings[name] = round(time.monotonic() - started, 2)
        self.log(f"  seeded {name}: {result} rows in {self.timings[name]} s")
        return result

    # --- objects the ORM writes (few rows, through the services where there is one) ---------
    def setup_program(self) -> None:
        from programs.models import ExpiryPolicy, Partner, Program, Tier
        from programs.services.api_keys import api_key_create

        self.program = Program.objects.create(
            name="Bench-Treue",
            slug="bench",
            currency="EUR",
            points_per_unit=1,
            pending_days=14,
            expiry_policy=ExpiryPolicy.FIXED_PERIOD,
            expiry_months=24,
            # the seeded history's start: with today's default a run that starts near
            # local midnight refused its own purchases of "five minutes ago" (yesterday)
            history_starts_on=(_now() - timedelta(days=HISTORY_DAYS + 60)).date(),
        )
        tiers = [
            Tier.objects.create(program=self.program, name=name, rank=rank, threshold=threshold)
            for name, rank, threshold in (("Basis", 0, 0), ("Silber", 1, 500), ("Gold", 2, 2000))
        ]
        self.base_tier = tiers[0]
        self.partner = Partner.objects.create(name="Bench-Shop", slug="bench-shop")
        self.partner.programs.add(self.program)
        _key, self.api_key = api_key_create(
            partner=self.partner, name="bench", scopes=["read", "write"]
        )

    # --- bulk rows ---------------------------------------------------------------------------
    def customers(self, conn) -> int:
        from customers.models import Customer

        now = _now()
        first = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hans", "Ida", "Jonas"]
        last = ["Schmidt", "Müller", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann"]

        def rows():
            for i in range(1, self.scale.customers + 1):
                email = f"kunde{i}@bench.example"
                created = now - timedelta(days=HISTORY_DAYS + 30 - (i % 30))
                yield (i, email, email, first[i % 10], last[i % 7], "de", created, created)

        columns = ["id", "email", "email_normalized", "first_name", "last_name", "language",
                   "created_at", "updated_at"]  # fmt: skip
        return copy_rows(conn, Customer, columns, rows())

    def memberships(self, conn) -> int:
        from programs.models import Membership

        now = _now()
        base = self.base_tier.pk

        def rows():
            for i in range(1, self.scale.customers + 1):
                joined = now - timedelta(days=HISTORY_DAYS + 30 - (i % 30))
                review = now + timedelta(days=1 + i % 365)
                yield (i, i, self.program.pk, "active", joined, f"BN{i:010d}", base, base,
                       joined, review, joined, joined)  # fmt: skip

        columns = ["id", "customer_id", "program_id", "status", "joined_at", "referral_code",
                   "tier_id", "qualified_tier_id", "qualified_tier_since", "tier_review_at",
                   "created_at", "updated_at"]  # fmt: skip
        return copy_rows(conn, Membership, columns, rows())

    def partner_links(self, conn) -> int:
        from programs.models import PartnerCustomer

        def rows():
            for i in range(1, self.scale.customers + 1):
                yield (i, self.partner.pk, i, f"c-{i}")

        return copy_rows(conn, PartnerCustomer, ["id", "partner_id", "customer_id",
                                                 "external_id"], rows())  # fmt: skip

    def _history_members(self):
        """Membership of each history purchase: the long-history customers first, then
        the remaining purchases spread at random over everyone."""
        s = self.scale
        for member in range(1, s.long_history + 1):
            for _ in range(s.long_history_purchases):
                yield member
        rest = s.purchases - s.long_history * s.long_history_purchases
        for _ in range(max(0, rest)):
            yield self.rng.randint(1, s.customers)

    def purchases(self, conn) -> int:
        from programs.models import Purchase, PurchaseLine

        now = _now()
        span = (HISTORY_DAYS - QUIET_DAYS) * 86400
        purchase_columns = [
            "id", "program_id", "membership_id", "partner_id", "order_id", "amount", "currency",
            "occurred_at", "status", "points_expected", "points_awarded", "received_at",
            "processed_at",
        ]  # fmt: skip
        line_columns = ["id", "purchase_id", "line_no", "sku", "category", "quantity",
                        "unit_price", "amount"]  # fmt: skip
        p_extra_cols, p_extra = _extra_columns(Purchase, purchase_columns)
        l_extra_cols, l_extra = _extra_columns(PurchaseLine, line_columns)
        p_sql = f"COPY programs_purchase ({', '.join(purchase_columns + p_extra_cols)}) FROM STDIN"
        l_sql = f"COPY programs_purchaseline ({', '.join(line_columns + l_extra_cols)}) FROM STDIN"
        lines: list[tuple] = []
        line_id = 0
        count = 0
        program, partner = self.program.pk, self.partner.pk
        with conn.cursor() as cursor, conn.cursor() as line_cursor:
            with cursor.copy(p_sql) as copy:
                for pid, member in enumerate(self._history_members(), start=1):
                    first, second = _amount(self.rng)
                    amount = first + second
                    occurred = now - timedelta(days=QUIET_DAYS, seconds=self.rng.randrange(span))
                    points = int(amount)
                    copy.write_row(
                        (pid, program, member, partner, f"h-{pid}", amount, "EUR", occurred,
                         "awarded", points, points, occurred + timedelta(seconds=1),
                         occurred + timedelta(seconds=2), *p_extra)
                    )  # fmt: skip
                    line_id += 1
                    lines.append((line_id, pid, 1, f"SKU-{pid % 500}", "tea", 1, first, first))
                    line_id += 1
                    lines.append((line_id, pid, 2, f"SKU-{pid % 300}", "food", 1, second, second))
                    count += 1
            with line_cursor.copy(l_sql) as copy:
                for row in lines:
                    copy.write_row(row + tuple(l_extra))
        return count

    def ledger(self, conn) -> int:
        """One earn entry per awarded purchase (available: the history is past its return
        window), with the running balance per membership, in the order it happened."""
        from programs.models import LedgerEntry

        columns = ["membership_id", "kind", "points", "pending_points", "balance_after",
                   "pending_after", "source", "purchase_id", "actor_type", "actor_partner_id",
                   "reason", "idempotency_key", "created_at", "effective_at"]  # fmt: skip
        select = """
            SELECT p.membership_id, 'earn', p.points_awarded, 0,
                   sum(p.points_awarded) OVER (PARTITION BY p.membership_id
                                               ORDER BY p.processed_at, p.id),
                   0, 'purchase', p.id, 'partner', p.partner_id, 'order ' || p.order_id,
                   'purchase:' || p.id || ':earn', p.processed_at, p.occurred_at /*extra*/
            FROM programs_purchase p
            WHERE p.status = 'awarded' AND p.points_awarded > 0
            ORDER BY p.processed_at, p.id
        """
        return insert_select(conn, LedgerEntry, columns, select)

    def lots(self, conn) -> int:
        from programs.models import PointLot

        columns = ["membership_id", "earn_entry_id", "points", "remaining", "earned_at",
                   "available_at", "released_at", "expires_at"]  # fmt: skip
        select = """
            SELECT e.membership_id, e.id, e.points, e.points, p.occurred_at,
                   p.occurred_at + interval '14 days', p.occurred_at + interval '14 days',
                   p.occurred_at + interval '24 months' /*extra*/
            FROM programs_ledgerentry e JOIN programs_purchase p ON p.id = e.purchase_id
            ORDER BY e.id
        """
        return insert_select(conn, PointLot, columns, select)

    def balances(self, conn) -> int:
        with conn.cursor() as cursor:
            cursor.execute(
                """
                UPDATE programs_membership m
                SET balance = s.total, lifetime_earned = s.total, last_activity_at = s.last
                FROM (SELECT e.membership_id, sum(e.points) AS total,
                             max(p.occurred_at) AS last
                      FROM programs_ledgerentry e
                      JOIN programs_purchase p ON p.id = e.purchase_id
                      GROUP BY e.membership_id) s
                WHERE m.id = s.membership_id
                """
            )
            return cursor.rowcount

    def history(self) -> dict:
        """The whole data set except the award backlog. Returns what the load needs."""
        from customers.models import Customer
        from programs.models import (
            Membership,
            PartnerCustomer,
            Purchase,
            PurchaseLine,
        )

        self.setup_program()
        with self.connect(replica=True) as conn:
            self._timed("customers", self.customers, conn)
            self._timed("memberships", self.memberships, conn)
            self._timed("partner_links", self.partner_links, conn)
            self._timed("purchases+lines", self.purchases, conn)
            set_sequences(conn, [Customer, Membership, PartnerCustomer, Purchase, PurchaseLine])
            conn.commit()
            self._timed("ledger_entries", self.ledger, conn)
            self._timed("lots", self.lots, conn)
            self._timed("balances", self.balances, conn)
            conn.commit()
        self.analyze()
        sessions = logins(min(32, self.scale.long_history))
        return {"api_key": self.api_key, "sessions": sessions}

    def backlog(self, size: int) -> int:
        """``size`` purchases received a minute ago and not yet awarded, on random members."""
        from programs.models import Purchase, PurchaseLine

        now = _now()
        with self.connect(replica=True) as conn:
            start = reserve_ids(conn, Purchase, size)
            line_start = reserve_ids(conn, PurchaseLine, 2 * size)
            purchases, lines = [], []
            for n in range(size):
                pid = start + n
                first, second = _amount(self.rng)
                amount = first + second
                member = self.rng.randint(1, self.scale.customers)
                purchases.append(
                    (pid, self.program.pk, member, self.partner.pk, f"b-{pid}", amount, "EUR",
                     now - timedelta(hours=1), "received", int(amount),
                     now - timedelta(minutes=2))
                )  # fmt: skip
                lines.append((line_start + 2 * n, pid, 1, "SKU-1", "tea", 1, first, first))
                lines.append((line_start + 2 * n + 1, pid, 2, "SKU-2", "food", 1, second, second))
            columns = [
                "id",
                "program_id",
                "membership_id",
                "partner_id",
                "order_id",
                "amount",
                "currency",
                "occurred_at",
                "status",
                "points_expected",
                "received_at",
            ]
            started = time.monotonic()
            copy_rows(conn, Purchase, columns, purchases)
            copy_rows(conn, PurchaseLine, ["id", "purchase_id", "line_no", "sku", "category",
                                           "quantity", "unit_price", "amount"], lines)  # fmt: skip
            conn.commit()
            self.timings["backlog"] = round(time.monotonic() - started, 2)
        self.analyze(["programs_purchase", "programs_purchaseline"])
        return size

    def analyze(self, tables=None) -> None:
        with self.connect() as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                if tables:
                    for table in tables:
                        cursor.execute(f"VACUUM ANALYZE {table}")
                else:
                    cursor.execute("VACUUM ANALYZE")
