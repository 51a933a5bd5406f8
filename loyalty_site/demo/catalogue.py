"""What the demo's customers are called and what they buy: German names, the roaster's
and the bookshop's assortment, and baskets drawn from it (5 to 120 EUR)."""

import random
from decimal import Decimal

from programs.services.purchases import LineData

FIRST_NAMES = [
    "Anna", "Lena", "Laura", "Julia", "Sarah", "Lisa", "Katharina", "Sophie", "Marie", "Hannah",
    "Lea", "Johanna", "Clara", "Emma", "Mia", "Charlotte", "Franziska", "Sabine", "Petra",
    "Monika", "Ursula", "Claudia", "Andrea", "Stefanie", "Nicole", "Birgit", "Elif", "Zeynep",
    "Aylin", "Natalia", "Jonas", "Lukas", "Leon", "Felix", "Maximilian", "Paul", "Tim", "Jan",
    "Niklas", "Moritz", "David", "Tobias", "Sebastian", "Florian", "Alexander", "Michael",
    "Thomas", "Andreas", "Stefan", "Markus", "Christian", "Wolfgang", "Klaus", "Jürgen",
    "Matthias", "Benedikt", "Emre", "Can", "Dominik", "Jörg",
]  # fmt: skip
LAST_NAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler",
    "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang",
    "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Vogel", "Friedrich", "Keller", "Günther",
    "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz", "Baumann", "Yilmaz", "Kaya",
    "Nowak", "Kowalski", "Haas", "Graf", "Schuster", "Sommer", "Brandt", "Ziegler",
]  # fmt: skip

# (SKU, unit price) per category; the categories are what the earn rules look at.
PRODUCTS = {
    "Bohnen": [
        ("BOH-FRM-250", "8.90"),  # Freiburger Mischung 250 g
        ("BOH-FRM-1000", "29.90"),  # Freiburger Mischung 1 kg (triple points)
        ("BOH-ETH-250", "11.50"),  # Äthiopien Yirgacheffe
        ("BOH-COL-250", "9.90"),  # Kolumbien Huila
        ("BOH-ESP-500", "16.90"),  # Espresso Schwarzwald
        ("BOH-ENT-250", "9.50"),  # Entkoffeiniert
    ],
    "Zubehör": [
        ("ZUB-V60", "24.90"),
        ("ZUB-FIL-100", "5.90"),
        ("ZUB-MUEHLE", "49.90"),
        ("ZUB-THERMO", "19.90"),
        ("ZUB-PRESS", "34.90"),
    ],
    "Getränke": [
        ("GET-CAP", "3.60"),
        ("GET-ESP", "2.40"),
        ("GET-FLW", "3.90"),
        ("GET-CHAI", "4.20"),
        ("GET-COLD", "4.50"),
    ],
    "Gebäck": [
        ("GEB-CROI", "2.20"),
        ("GEB-ZIMT", "3.20"),
        ("GEB-KAESE", "3.90"),
        ("GEB-BREZEL", "1.90"),
    ],
    "Geschenkgutscheine": [("GUT-10", "10.00"), ("GUT-25", "25.00"), ("GUT-50", "50.00")],
    "Bücher": [
        ("BUCH-TB", "12.00"),
        ("BUCH-KRIMI", "14.95"),
        ("BUCH-REISE", "22.00"),
        ("BUCH-KOCH", "28.00"),
        ("BUCH-HC", "24.95"),
        ("BUCH-KINDER", "9.99"),
        ("BUCH-BILD", "36.00"),
    ],
    "Schreibwaren": [("SCH-KARTE", "3.50"), ("SCH-NOTIZ", "8.90"), ("SCH-KAL", "12.90")],
}

# Customer profiles and their share in percent.
PROFILE_SHARES = (
    ("gelegentlich", 55),  # a few purchases over the whole period
    ("stamm", 16),  # regulars: 0.8 to 2.2 purchases a month
    ("abgewandert", 18),  # churned: nothing in the last six months or more
    ("neu", 8),  # joined in the last two months
    ("vielkaeufer", 1),  # weekly big web-shop orders (the office coffee buyer)
    ("nur_angemeldet", 2),  # signed up, never bought
)
# One referee per scenario, in this order; more "rewarded" ones for larger data sets.
REFERRAL_SCENARIOS = (
    "rewarded",  # friend bought > 14 days ago: both sides rewarded
    "signed_up",  # friend joined, has not bought yet
    "qualified",  # friend bought in the return window: referrer's reward held
    "review",  # same device as the referrer: waits in the review queue
    "self",  # referrer's own +tag address: blocked and rejected
    "staff_rejected",  # review, rejected by staff with a reason
    "returned",  # friend returned the qualifying purchase: rejected at release
    "approved",  # review, approved by staff, then rewarded
    "rewarded",
)
MAX_BASKET = Decimal("120.00")
MIN_BASKET = Decimal("5.00")

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", " ": ""})


def ascii_name(name: str) -> str:
    """``Jürgen`` -> ``juergen``: for e-mail addresses."""
    return name.lower().translate(_TRANSLIT)


def basket_total(lines) -> Decimal:
    return sum((line.amount for line in lines), Decimal(0))


class Baskets:
    """Draws plausible baskets from the assortment."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def _lines(self, category: str, count: int = 1, quantities=(1,)) -> list[LineData]:
        products = self.rng.sample(PRODUCTS[category], min(count, len(PRODUCTS[category])))
        return [
            LineData(sku, category, self.rng.choice(quantities), Decimal(price))
            for sku, price in products
        ]

    def _fit(self, lines: list[LineData]) -> list[LineData]:
        while basket_total(lines) > MAX_BASKET and len(lines) > 1:
            lines.pop()
        if basket_total(lines) > MAX_BASKET:
            line = lines[0]
            quantity = max(1, int(MAX_BASKET / line.unit_price))
            lines = [LineData(line.sku, line.category, quantity, line.unit_price)]
        return lines

    def cafe(self) -> list[LineData]:
        """A visit to the café in the shop: drinks and pastries."""
        rng = self.rng
        lines = self._lines("Getränke", rng.choice([1, 1, 1, 2]), quantities=(1, 1, 2))
        if rng.random() < 0.6:
            lines += self._lines("Gebäck", 1, quantities=(1, 1, 2))
        if basket_total(lines) < MIN_BASKET:
            taken = {line.sku for line in lines}
            extra = next(p for p in PRODUCTS["Gebäck"] if p[0] not in taken)
            lines.append(LineData(extra[0], "Gebäck", 2, Decimal(extra[1])))
        return self._fit(lines)

    def beans(self) -> list[LineData]:
        """Beans bought in the shop, now and then with a drink, a voucher or a gadget."""
        rng = self.rng
        lines = self._lines("Bohnen", rng.choice([1, 1, 2]), quantities=(1, 1, 2))
        if rng.random() < 0.3:
            lines += self._lines("Getränke")
        if rng.random() < 0.08:
            lines += self._lines("Geschenkgutscheine")
        if rng.random() < 0.1:
            lines += self._lines("Zubehör")
        return self._fit(lines)

    def webshop(self, *, big: bool = False) -> list[LineData]:
        rng = self.rng
        if big:
            lines = [LineData("BOH-FRM-1000", "Bohnen", rng.randint(2, 3), Decimal("29.90"))]
            lines.append(LineData("BOH-ESP-500", "Bohnen", rng.randint(1, 2), Decimal("16.90")))
        else:
            lines = self._lines("Bohnen", rng.choice([1, 1, 2, 2, 3]), quantities=(1, 1, 2))
        if rng.random() < 0.3:
            lines += self._lines("Zubehör")
        if rng.random() < 0.06:
            lines += self._lines("Geschenkgutscheine")
        return self._fit(lines)

    def bookshop(self) -> list[LineData]:
        rng = self.rng
        lines = self._lines("Bücher", rng.choice([1, 1, 1, 2]))
        if rng.random() < 0.25:
            lines += self._lines("Schreibwaren")
        return self._fit(lines)
