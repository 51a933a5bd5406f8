"""A demo customer while the history is written: who they are and how they shop."""

from dataclasses import dataclass
from datetime import datetime

from customers.models import Customer
from programs.models import Membership


@dataclass
class Shopper:
    customer: Customer
    membership: Membership
    profile: str
    device_id: str
    ip: str
    card: str
    city: Membership | None = None
    stockpiler: bool = False  # orders beans by the kilo
    referrals_made: int = 0
    web_orders: int = 0
    last_purchase_at: datetime | None = None
    reached: bool = False  # in the comeback campaign's audience, not held out
