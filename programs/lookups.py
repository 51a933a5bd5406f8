"""``field__any=ids``: ``field = ANY(%s)`` with the ids as one array parameter.

For the batch paths' id lists (a thousand purchases or memberships at a time). ``__in``
prepares every element through the field and writes one placeholder per element, which
psycopg then parses out of the statement again: about a tenth of an award batch's CPU.
One array parameter costs neither, and PostgreSQL plans ``= ANY(array)`` exactly as it
plans ``IN (...)``.
"""

from django.db.models import Field, ForeignObject
from django.db.models.lookups import Lookup


@ForeignObject.register_lookup  # related fields look their lookups up apart
@Field.register_lookup
class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        # Plain values, as the id lists of the batch paths are: no per-element preparation.
        return [value for value in self.rhs if value is not None]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        array_type = self.lhs.output_field.db_type(connection)
        return f"{lhs} = ANY(%s::{array_type}[])", [*lhs_params, self.rhs]
