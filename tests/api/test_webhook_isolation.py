"""One delivery that cannot be attempted (a broken row) does not stop the others of its
chunk, and is given up with its reason instead of being leased and tried forever."""

from programs.api.tasks import deliver_webhooks_task
from programs.models import WebhookDelivery, WebhookDeliveryState, WebhookEventType
from programs.services.webhooks import webhook_events_emit, webhook_subscription_create

POINTS = WebhookEventType.POINTS_AWARDED


def test_a_broken_delivery_is_given_up_and_the_rest_of_its_chunk_is_sent(member, receiver):
    webhook_subscription_create(partner=member_partner(member), url=receiver.url, events=[POINTS])
    deliveries = [webhook_events_emit([(POINTS, member, {"points": n})])[0].pk for n in range(3)]
    WebhookDelivery.objects.filter(pk=deliveries[1]).update(log=5)  # not a list

    assert deliver_webhooks_task(deliveries) == 3

    states = dict(WebhookDelivery.objects.values_list("pk", "state"))
    assert [states[pk] for pk in deliveries] == [
        WebhookDeliveryState.DELIVERED,
        WebhookDeliveryState.FAILED,
        WebhookDeliveryState.DELIVERED,
    ]
    broken = WebhookDelivery.objects.get(pk=deliveries[1])
    assert broken.last_error.startswith("TypeError")
    assert deliver_webhooks_task([deliveries[1]]) == 0  # not due any more


def member_partner(member):
    return member.customer.partner_links.get().partner
