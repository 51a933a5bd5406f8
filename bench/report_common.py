"""What every row of the report uses: the mark of a missing figure, ratios, targets."""

NOT_AVAILABLE = "not available yet"


def get(results: dict, key: str, field: str = "per_second"):
    value = results.get(key)
    if not isinstance(value, dict):
        return None
    return value.get(field)


def ratio(a, b, digits=3):
    if a is None or b in (None, 0):
        return None
    return round(a / b, digits)


def met(value, bound, op) -> bool | None:
    if value is None:
        return False
    return {">=": value >= bound, "<": value < bound, "<=": value <= bound}[op]
