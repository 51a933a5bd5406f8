"""Compare every membership's cached balances with the sums of its ledger."""

from django.core.management.base import BaseCommand, CommandError

from programs.services.due import ledger_drift


class Command(BaseCommand):
    help = "Report memberships whose cached balances differ from their ledger; exit 1 if any."

    def handle(self, *args, **options):
        drift = ledger_drift()
        for row in drift:
            self.stdout.write(
                "membership {membership}: cached {cached_available}/{cached_pending} "
                "(available/pending), ledger {ledger_available}/{ledger_pending}".format(**row)
            )
        if drift:
            raise CommandError(f"{len(drift)} membership(s) drift from their ledger.")
        self.stdout.write(self.style.SUCCESS("Every cached balance equals its ledger."))
