"""Reading someone else's dataset as our transactions: the mapping, the defaults of missing
columns, and the reason each kind of bad row is rejected for."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import InvalidInput
from domain.fraud.dataset import DEFAULTS, ColumnMapping, Row, event_time, to_row

MAPPING = ColumnMapping.parse(
    "card_id=CARD,merchant_id=SHOP,amount=AMT,event_time=TS,label=IS_FRAUD,scenario=KIND"
)
WHEN = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def row(**changes: object) -> dict[str, object]:
    return {"CARD": "c1", "SHOP": "m1", "AMT": "12.345", "TS": "x", "IS_FRAUD": "0", **changes}


def test_a_mapping_from_text_and_from_a_file(tmp_path: Path) -> None:
    file = tmp_path / "mapping.toml"
    file.write_text('[columns]\ncard_id = "CC"\nmerchant_id = "SHOP"\namount = "A"\n')
    mapping = ColumnMapping.parse("event_time=TS,amount=AMT", file)
    assert mapping.columns() == {
        "card_id": "CC",
        "merchant_id": "SHOP",
        "amount": "AMT",  # the text wins over the file
        "event_time": "TS",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("card_id=C,merchant_id=M,amount=A", "event_time must be mapped"),
        ("card_id=C,merchant_id=M,amount=A,event_time=T,colour=X", "no field colour"),
        ("card_id", "write field=COLUMN"),
    ],
)
def test_a_bad_mapping_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ColumnMapping.parse(text)


def test_a_mapped_column_the_file_lacks_is_named() -> None:
    with pytest.raises(InvalidInput, match="no column IS_FRAUD, KIND"):
        MAPPING.check_against(["CARD", "SHOP", "AMT", "TS"])


def test_a_good_row_gets_the_defaults_of_what_its_dataset_lacks() -> None:
    accepted = to_row(row(IS_FRAUD="true", KIND="compromised terminal"), MAPPING, WHEN, "ds-7")
    assert isinstance(accepted, Row)
    txn = accepted.txn
    assert (txn.txn_id, txn.card_id, txn.customer_id, txn.amount) == (
        "ds-7",
        "c1",
        "c1",
        Decimal("12.35"),  # rounded half up to cents
    )
    assert (txn.country, txn.currency, txn.channel, txn.lat, txn.lon) == (
        DEFAULTS["country"],
        DEFAULTS["currency"],
        DEFAULTS["channel"],
        0.0,
        0.0,
    )
    assert (accepted.fraud, accepted.scenario) == (True, "compromised terminal")


def test_a_fraud_row_without_a_scenario_is_plain_fraud_and_a_genuine_one_has_none() -> None:
    fraud = to_row(row(IS_FRAUD="1", KIND=""), MAPPING, WHEN, "t")
    genuine = to_row(row(KIND="ignored"), MAPPING, WHEN, "t")
    assert isinstance(fraud, Row)
    assert isinstance(genuine, Row)
    assert (fraud.scenario, genuine.fraud, genuine.scenario) == ("fraud", False, None)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"CARD": " "}, "missing card_id"),
        ({"SHOP": None}, "missing merchant_id"),
        ({"AMT": "0"}, "amount zero or negative"),
        ({"AMT": "-3.10"}, "amount zero or negative"),
        ({"AMT": "0.004"}, "amount zero or negative"),  # rounds to 0.00
        ({"AMT": "twelve"}, "amount is not a number"),
        ({"AMT": "NaN"}, "amount is not a number"),
        ({"AMT": ""}, "missing amount"),
        ({"IS_FRAUD": "maybe"}, "label 'maybe' is not 0/1 or true/false"),
    ],
)
def test_each_kind_of_bad_row_is_rejected_for_its_reason(
    changes: dict[str, object], reason: str
) -> None:
    assert to_row(row(**changes), MAPPING, WHEN, "t") == reason


def test_a_value_our_schema_refuses_is_rejected_with_the_field() -> None:
    mapping = ColumnMapping.parse(
        "card_id=CARD,merchant_id=SHOP,amount=AMT,event_time=TS,channel=CH"
    )
    assert to_row(row(CH="phone"), mapping, WHEN, "t") == (
        "invalid channel: Input should be 'pos' or 'ecom'"
    )


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("2018-04-01 00:00:31", None, datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)),
        ("2018-04-01T02:00:31+02:00", None, datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)),
        (datetime(2018, 4, 1), None, datetime(2018, 4, 1, tzinfo=UTC)),
        (1522540831, "s", datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)),
        (1522540831000, "ms", datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)),
        (1522540831, None, "event_time is a number: say its unit with --epoch-unit s|ms"),
        ("yesterday", None, "unparseable event_time"),
        ("", None, "missing event_time"),
        (None, None, "missing event_time"),
    ],
)
def test_event_times(value: object, unit: str | None, expected: object) -> None:
    assert event_time(value, unit) == expected  # type: ignore[arg-type]
