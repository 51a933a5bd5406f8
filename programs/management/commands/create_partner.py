"""Set up a fresh database for the partner API: a program, a partner in it and an API key."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from programs.models import ApiKeyScope
from programs.services.api_keys import api_key_create
from programs.services.partner_setup import partner_program_setup


class Command(BaseCommand):
    help = (
        "Create a program (tiers, the actions 'anmeldung' and 'bewertung', one reward) and a "
        "partner taking part in it, then create an API key with every scope and print it: "
        "only the key goes to stdout, so KEY=$(manage.py create_partner --program-name "
        "'My program' --partner-name 'My shop') works. A program or partner whose slug "
        "exists is kept as it is; each run prints a new key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--program-name", required=True, help="e.g. 'Kaffee-Treue'.")
        parser.add_argument("--program", default="", help="Slug (default: from the name).")
        parser.add_argument("--partner-name", required=True, help="e.g. 'Webshop'.")
        parser.add_argument("--partner", default="", help="Slug (default: from the name).")
        parser.add_argument(
            "--currency",
            default=settings.DEFAULT_CURRENCY,
            help=f"ISO 4217 code of a new program (default: {settings.DEFAULT_CURRENCY}).",
        )

    def handle(self, *args, program_name, program, partner_name, partner, currency, **options):
        program_slug = program or slugify(program_name)
        partner_slug = partner or slugify(partner_name)
        if not program_slug or not partner_slug:
            raise CommandError(
                "Give names with letters or digits, or slugs (--program, --partner)."
            )
        setup = partner_program_setup(
            program_slug=program_slug,
            program_name=program_name,
            partner_slug=partner_slug,
            partner_name=partner_name,
            currency=currency.upper(),
        )
        _key, plaintext = api_key_create(
            partner=setup.partner, name="created with create_partner", scopes=ApiKeyScope.values
        )
        self.stderr.write(
            f"Program '{setup.program.slug}' "
            f"{'created' if setup.program_created else 'exists, kept as it is'}; "
            f"partner '{setup.partner.slug}' "
            f"{'created' if setup.partner_created else 'exists'}, taking part in it. "
            "API key below (scopes read, write, redeem): store it now, it cannot be shown again."
        )
        self.stdout.write(plaintext)
