"""The Celery transport of the database broker (``CELERY_BROKER_TRANSPORT``, see
``loyalty_site/broker.py``): kombu's SQLAlchemy transport, polling every 0.1 s."""

from kombu.transport import sqlalchemy


class Transport(sqlalchemy.Transport):
    """kombu's SQLAlchemy transport, polling an empty queue every 0.1 s instead of 1 s.

    With one message prefetched per pool process, a worker waits for the next poll after
    each task, so kombu's default let it run about one task a second. Its ``polling_interval``
    transport option would go to SQLAlchemy's ``create_engine``, which refuses it; hence the
    class attribute."""

    polling_interval = 0.1
