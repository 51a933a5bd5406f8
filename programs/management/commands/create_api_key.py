"""Create a partner API key from the shell: the key is printed once, on stdout alone."""

from django.core.management.base import BaseCommand, CommandError

from programs.models import ApiKeyScope, Partner
from programs.services.api_keys import api_key_create, scopes_clean


class Command(BaseCommand):
    help = (
        "Create an API key for a partner and print it (only the key goes to stdout, so "
        "KEY=$(manage.py create_api_key --partner webshop) works). It cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, help="The partner's slug.")
        parser.add_argument(
            "--scopes",
            default=",".join(ApiKeyScope.values),
            help=f"Comma-separated, from {', '.join(ApiKeyScope.values)} (default: all).",
        )
        parser.add_argument("--name", default="", help="What the key is for.")

    def handle(self, *args, partner, scopes, name, **options):
        found = Partner.objects.filter(slug=partner).first()
        if found is None:
            known = ", ".join(Partner.objects.values_list("slug", flat=True)[:20]) or "none"
            raise CommandError(f"No partner with slug '{partner}' (known: {known}).")
        try:
            chosen = scopes_clean(scopes.split(","))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        key, plaintext = api_key_create(
            partner=found, name=name or "created with manage.py", scopes=chosen
        )
        self.stderr.write(
            f"Created API key {key.prefix} for {found.name} (scopes: {', '.join(chosen)}). "
            "Store it now; it cannot be shown again."
        )
        self.stdout.write(plaintext)
