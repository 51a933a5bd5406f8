"""The bottom layer every app may use: after-commit enqueue (``commit``), the delivery
outbox of webhooks, e-mails and invitations (``outbox``), failing small in batches
(``batches``) and on conflicts (``conflicts``), the cache that may go away (``cache``) and
what counts as a database outage (``outage``), statements planned once per connection
for the hottest reads (``prepared``), and the staff audit log (``audit``,
``audited_admin``; an app of its own, label ``core``, for its table).
It imports no app of the project and nothing else of ``loyalty_site``; ``.importlinter``
holds it to that."""
