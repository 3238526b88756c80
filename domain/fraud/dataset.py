"""A labelled transaction dataset someone else made, read as our transactions: which column is
which (the mapping), the defaults of the columns a dataset lacks, and each row's verdict (a
Transaction with its label, or the reason it is rejected). Pure: the import (dataset_import.py)
does the reading and the writing."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import InvalidInput
from domain.fraud.events import Transaction

REQUIRED = ("card_id", "merchant_id", "amount", "event_time")
OPTIONAL = (
    "txn_id",
    "customer_id",
    "merchant_category",
    "currency",
    "country",
    "lat",
    "lon",
    "channel",
    "label",
    "scenario",
)
# What a row gets for a column its dataset does not have (README, "Importing a dataset").
DEFAULTS: dict[str, Any] = {
    "merchant_category": "unknown",
    "currency": "EUR",
    "country": "ZZ",  # ISO 3166 user-assigned: unknown
    "lat": 0.0,  # with no coordinates anywhere, impossible travel never fires
    "lon": 0.0,
    "channel": "pos",
}
FRAUD_SCENARIO = "fraud"  # the scenario of a fraudulent row whose dataset names none
TRUE = frozenset({"1", "true", "t", "yes", "y"})
FALSE = frozenset({"0", "false", "f", "no", "n"})
EpochUnit = Literal["s", "ms"]


class ColumnMapping(BaseModel):
    """Our field -> the dataset's column. The four required fields must be mapped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    card_id: str
    merchant_id: str
    amount: str
    event_time: str
    txn_id: str | None = None
    customer_id: str | None = None
    merchant_category: str | None = None
    currency: str | None = None
    country: str | None = None
    lat: str | None = None
    lon: str | None = None
    channel: str | None = None
    label: str | None = None
    scenario: str | None = None

    @classmethod
    def parse(cls, text: str | None, file: Path | None = None) -> ColumnMapping:
        """From `field=COLUMN,...` and/or a TOML file of `field = "COLUMN"` lines (the text's
        pairs win)."""
        pairs: dict[str, str] = {}
        if file is not None:
            try:
                loaded = tomllib.loads(file.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise InvalidInput(f"mapping file {file}: {exc}", subject="import") from exc
            pairs.update({str(k): str(v) for k, v in loaded.get("columns", loaded).items()})
        for pair in filter(None, (p.strip() for p in (text or "").split(","))):
            field, sep, column = pair.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise InvalidInput(
                    f"mapping {pair!r}: write field=COLUMN (e.g. card_id=CARD)", subject="import"
                )
            pairs[field.strip()] = column.strip()
        unknown = sorted(set(pairs) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise InvalidInput(
                f"mapping: no field {', '.join(unknown)}; fields are"
                f" {', '.join(REQUIRED + OPTIONAL)}",
                subject="import",
            )
        missing = [f for f in REQUIRED if f not in pairs]
        if missing:
            raise InvalidInput(
                f"mapping: {', '.join(missing)} must be mapped to a column", subject="import"
            )
        return cls(**pairs)

    def columns(self) -> dict[str, str]:
        return {field: column for field, column in self.model_dump().items() if column}

    def check_against(self, header: list[str]) -> None:
        absent = sorted({c for c in self.columns().values() if c not in header})
        if absent:
            raise InvalidInput(
                f"the file has no column {', '.join(absent)}; its columns: {', '.join(header)}",
                subject="import",
            )


@dataclass(frozen=True)
class Row:
    """One accepted row: the transaction, and whether (and as what) it is fraud."""

    txn: Transaction
    fraud: bool | None  # None: the dataset has no label column
    scenario: str | None


def event_time(value: Any, epoch_unit: EpochUnit | None) -> datetime | str:
    """The row's event time (UTC), or why there is none."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if value is None or (isinstance(value, str) and not value.strip()):
        return "missing event_time"
    if isinstance(value, int | float):
        if epoch_unit is None:
            return "event_time is a number: say its unit with --epoch-unit s|ms"
        seconds = value / 1000 if epoch_unit == "ms" else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return "event_time out of range"
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        return "unparseable event_time"
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _amount(value: Any) -> Decimal | str:
    try:
        amount = Decimal(str(value).strip()).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return "amount is not a number" if _text(value) else "missing amount"
    if not amount.is_finite():
        return "amount is not a number"
    return amount if amount > 0 else "amount zero or negative"


def _label(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    text = (_text(value) or "").lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    return f"label {value!r} is not 0/1 or true/false"


def to_row(
    record: dict[str, Any],
    mapping: ColumnMapping,
    when: datetime,
    default_txn_id: str,
) -> Row | str:
    """A dataset row (by its columns) as a Row, or the reason it is rejected. `when` is its
    event time, already read (event_time above); `default_txn_id` names a row whose dataset has
    no transaction id, deterministically (a second import of the file names it the same)."""

    def column(field: str) -> Any:
        name = getattr(mapping, field)
        return record.get(name) if name else None

    card = _text(column("card_id"))
    if card is None:
        return "missing card_id"
    merchant = _text(column("merchant_id"))
    if merchant is None:
        return "missing merchant_id"
    amount = _amount(column("amount"))
    if isinstance(amount, str):
        return amount
    fraud: bool | None = None
    if mapping.label:
        label = _label(column("label"))
        if isinstance(label, str):
            return label
        fraud = label
    fields: dict[str, Any] = {
        "txn_id": _text(column("txn_id")) or default_txn_id,
        "card_id": card,
        "customer_id": _text(column("customer_id")) or card,
        "merchant_id": merchant,
        "amount": amount,
        "event_time": when,
    }
    for field in ("merchant_category", "currency", "country", "lat", "lon", "channel"):
        value = column(field)
        fields[field] = DEFAULTS[field] if _text(value) is None else value
    try:
        txn = Transaction.model_validate(fields)
    except ValidationError as exc:
        problem = exc.errors()[0]
        return f"invalid {problem['loc'][0]}: {problem['msg']}"
    scenario = _text(column("scenario")) if fraud else None
    return Row(txn, fraud, (scenario or FRAUD_SCENARIO) if fraud else None)
