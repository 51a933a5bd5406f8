"""The Celery broker when neither CELERY_BROKER_URL nor REDIS_URL is set: kombu's
SQLAlchemy transport on the application's own PostgreSQL (tables kombu_queue, kombu_message;
the transport class is in ``broker_transport.py``).

A fresh clone then needs no broker server, and any number of processes may publish and
consume at once: kombu takes the oldest waiting message with ``SELECT ... FOR UPDATE`` and
marks it delivered (``visible = false``) in the same transaction, so one consumer gets it.
Two things differ from Redis: kombu keeps delivered rows (``delivered_messages_delete``,
run by beat, removes the old ones), and a message taken by a worker that is then killed
(SIGKILL) is not handed out again; a warm shutdown puts unacknowledged messages back, and the
sweepers pick up purchases, webhooks and e-mails from the database.

This module is light (the settings import it); SQLAlchemy loads only with the transport.
"""

from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

DATABASE_BROKER_TRANSPORT = "loyalty_site.broker_transport:Transport"
# Django's and psycopg's own keys in a DATABASES entry's OPTIONS (``prepare_threshold``:
# loyalty_site/core/prepared.py); the others are libpq's (sslmode, ...).
_DJANGO_OPTIONS = {
    "isolation_level",
    "assume_role",
    "server_side_binding",
    "pool",
    "prepare_threshold",
}


def database_broker_url(database: dict) -> str:
    """The broker URL for a DATABASES entry: SQLAlchemy's form, in which a socket
    directory goes in the query string; psycopg is SQLAlchemy's PostgreSQL driver."""
    user = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        user += ":" + quote(database["PASSWORD"], safe="")
    host, port = database["HOST"] or "", str(database["PORT"] or "")
    query = {
        key: str(value)
        for key, value in database.get("OPTIONS", {}).items()
        if key not in _DJANGO_OPTIONS and isinstance(value, str | int)
    }
    if host.startswith("/"):
        query.update(host=host, **({"port": port} if port else {}))
        host = port = ""
    netloc = f"{user}@{host}" + (f":{port}" if port else "")
    name = quote(database["NAME"], safe="")
    return f"postgresql://{netloc}/{name}" + (f"?{urlencode(query)}" if query else "")


def broker_prepare(app) -> None:
    """Create the broker's tables and every queue before several processes start: kombu
    creates them on first use, and two processes doing so at once make one of them fail."""
    with app.connection_for_write() as connection:
        if connection.transport.driver_type == "sql":
            channel = connection.default_channel
            for queue in dict.fromkeys([app.conf.task_default_queue, *app.amqp.queues]):
                channel.queue_declare(queue=queue)


def database_broker_waiting(connection, queue: str) -> int:
    """How many messages wait in ``queue``: a round trip to the database (connecting alone
    only builds an SQLAlchemy engine). The session is closed, so no transaction stays open."""
    channel = connection.default_channel
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    finally:
        channel.session.close()


def delivered_messages_delete(*, app, older_than: timedelta) -> int:
    """Delete the messages the database broker delivered more than ``older_than`` ago;
    return how many. Does nothing with another broker."""
    with app.connection_for_write() as connection:
        if connection.transport.driver_type != "sql":
            return 0
        channel = connection.default_channel
        message = channel.message_cls
        # kombu stamps a delivery with the naive local time of the worker (same TZ as here).
        cutoff = datetime.now() - older_than  # noqa: DTZ005
        deleted = (
            channel.session.query(message)
            .filter(message.visible.is_(False), message.sent_at < cutoff)
            .delete(synchronize_session=False)
        )
        channel.session.commit()
    return deleted
