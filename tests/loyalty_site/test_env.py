"""The typed environment readers: good values parse, bad ones stop start-up naming the variable."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from loyalty_site.env import env_bool, env_decimal, env_int, env_list, env_str

VAR = "LOYALTY_TEST_VARIABLE"


@pytest.fixture(autouse=True)
def _unset(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)


# --- env_str --------------------------------------------------------------------------------


def test_str_strips_whitespace(monkeypatch):
    monkeypatch.setenv(VAR, "  hello  ")
    assert env_str(VAR) == "hello"


def test_str_default_when_unset():
    assert env_str(VAR, "fallback") == "fallback"
    assert env_str(VAR) == ""


# --- env_bool -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "Yes", "on", "  true  "])
def test_bool_true(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert env_bool(VAR, default=False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", "", "  no "])
def test_bool_false(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert env_bool(VAR, default=True) is False


@pytest.mark.parametrize("default", [True, False])
def test_bool_default_when_unset(default):
    assert env_bool(VAR, default=default) is default


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "y", "enabled", "-1"])
def test_bool_rejects_other_values_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR}=.* is not a boolean; use 1/0"):
        env_bool(VAR)


# --- env_int --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("42", 42), (" 7 ", 7), ("0", 0), ("-3", -3)])
def test_int_parses(monkeypatch, raw, expected):
    monkeypatch.setenv(VAR, raw)
    assert env_int(VAR, 99) == expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_int_default_when_unset_or_blank(monkeypatch, raw):
    if raw is not None:
        monkeypatch.setenv(VAR, raw)
    assert env_int(VAR, 360) == 360


@pytest.mark.parametrize("raw", ["abc", "1.5", "10s", "1e3"])
def test_int_rejects_non_integers_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR}=.* is not a whole number"):
        env_int(VAR, 1)


def test_int_rejects_value_below_minimum(monkeypatch):
    monkeypatch.setenv(VAR, "59")
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR}=59 is below the minimum of 60"):
        env_int(VAR, 3600, minimum=60)


def test_int_accepts_the_minimum_itself(monkeypatch):
    monkeypatch.setenv(VAR, "60")
    assert env_int(VAR, 3600, minimum=60) == 60


# --- env_decimal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.01", Decimal("0.01")),
        ("2", Decimal(2)),
        (" 0.5 ", Decimal("0.5")),
        ("-1.25", Decimal("-1.25")),
    ],
)
def test_decimal_parses_exactly(monkeypatch, raw, expected):
    monkeypatch.setenv(VAR, raw)
    value = env_decimal(VAR, "9")
    assert isinstance(value, Decimal)
    assert value == expected


def test_decimal_keeps_precision_no_float_rounding(monkeypatch):
    monkeypatch.setenv(VAR, "0.1")
    assert env_decimal(VAR, "0") * 3 == Decimal("0.3")


@pytest.mark.parametrize("raw", [None, ""])
def test_decimal_default_when_unset_or_empty(monkeypatch, raw):
    if raw is not None:
        monkeypatch.setenv(VAR, raw)
    assert env_decimal(VAR, "0.01") == Decimal("0.01")


@pytest.mark.parametrize("raw", ["abc", "1,5", "0.01 EUR"])
def test_decimal_rejects_non_numbers_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR}=.* is not a decimal number"):
        env_decimal(VAR, "0.01")


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-inf", "sNaN"])
def test_decimal_rejects_non_finite_values(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured, match=rf"^{VAR}=.* is not a finite decimal number"):
        env_decimal(VAR, "0.01")


# --- env_list -------------------------------------------------------------------------------


def test_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv(VAR, " loyalty.example.com, ,api.example.com,, ")
    assert env_list(VAR) == ["loyalty.example.com", "api.example.com"]


def test_list_single_item(monkeypatch):
    monkeypatch.setenv(VAR, "loyalty.example.com")
    assert env_list(VAR, "localhost") == ["loyalty.example.com"]


def test_list_default_when_unset():
    assert env_list(VAR, "localhost,127.0.0.1") == ["localhost", "127.0.0.1"]
    assert env_list(VAR) == []


def test_list_set_but_empty_overrides_default(monkeypatch):
    monkeypatch.setenv(VAR, "")
    assert env_list(VAR, "localhost,127.0.0.1") == []
