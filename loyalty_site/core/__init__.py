"""The bottom layer every app may use: after-commit enqueue, the cache that may go away,
what counts as a database outage (and, as they arrive, the delivery outbox and the staff
audit log). It imports no app of the project and nothing else of ``loyalty_site``;
``.importlinter`` holds it to that."""
