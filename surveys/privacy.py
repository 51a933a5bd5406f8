"""What the surveys forget when a customer's deletion request is completed
(``customers.privacy.customer_anonymize``): free-text comments. Scores stay, anonymous."""

from customers.privacy import erasure_step
from surveys.models import Response


@erasure_step("surveys: clear comments")
def comments_clear(*, customer, user) -> None:
    Response.objects.filter(membership__customer=customer).exclude(comment="").update(comment="")
