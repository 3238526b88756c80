"""The handbook-design dataset at a tiny size: its columns, time order and fraud rules, the same
file for the same seed, and rows our importer's mapping reads as labelled transactions."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from domain.fraud.dataset import ColumnMapping, Row, event_time, to_row
from tools.bench.handbook_dataset import COLUMNS, SCENARIO_NAMES, DatasetSummary, write_dataset

START = date(2018, 4, 1)
MAPPING = ColumnMapping.parse(
    "txn_id=TRANSACTION_ID,card_id=CUSTOMER_ID,merchant_id=TERMINAL_ID,amount=TX_AMOUNT,"
    "event_time=TX_DATETIME,label=TX_FRAUD,scenario=TX_FRAUD_SCENARIO"
)


def tiny(path: Path, seed: int) -> DatasetSummary:
    return write_dataset(path, customers=100, terminals=1000, days=30, seed=seed, start=START)


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def test_the_columns_the_order_and_the_fraud_rules(tmp_path: Path) -> None:
    summary = tiny(tmp_path / "tx.csv", seed=3)
    header, rows = read(tmp_path / "tx.csv")

    assert header == list(COLUMNS)
    assert len(rows) == summary.rows > 1000
    assert [int(r["TRANSACTION_ID"]) for r in rows] == list(range(len(rows)))
    times = [r["TX_DATETIME"] for r in rows]
    assert times == sorted(times)  # the fixed-width format sorts as the time does
    assert (times[0][:10], times[-1][:10]) == ("2018-04-01", "2018-04-30")
    assert (str(summary.first_time), str(summary.last_time)) == (times[0], times[-1])
    assert all(len(r["TX_AMOUNT"].split(".")[1]) == 2 for r in rows)  # cents, always two
    assert all(r["TX_FRAUD"] == "1" for r in rows if float(r["TX_AMOUNT"]) > 220)
    assert all((r["TX_FRAUD"] == "1") == bool(r["TX_FRAUD_SCENARIO"]) for r in rows)
    assert {r["TX_FRAUD_SCENARIO"] for r in rows} <= {"", *SCENARIO_NAMES.values()}
    frauds = [r["TX_FRAUD_SCENARIO"] for r in rows if r["TX_FRAUD"] == "1"]
    assert len(frauds) == summary.frauds > 0
    assert summary.frauds_by_scenario == {n: frauds.count(n) for n in SCENARIO_NAMES.values()}


def test_the_same_seed_writes_the_same_file_in_either_format(tmp_path: Path) -> None:
    first = tiny(tmp_path / "a.csv", seed=7)
    again = tiny(tmp_path / "b.csv", seed=7)
    other = tiny(tmp_path / "c.csv", seed=8)
    tiny(tmp_path / "a.parquet", seed=7)

    assert first == again
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    assert other != first
    table = pq.read_table(tmp_path / "a.parquet")
    _, rows = read(tmp_path / "a.csv")
    assert table.column_names == list(COLUMNS)
    assert table.num_rows == len(rows)
    assert table.column("TX_DATETIME").to_pylist() == [r["TX_DATETIME"] for r in rows]
    assert table.column("TX_FRAUD_SCENARIO").to_pylist() == [r["TX_FRAUD_SCENARIO"] for r in rows]


def test_every_row_imports_with_its_label_and_scenario(tmp_path: Path) -> None:
    tiny(tmp_path / "tx.csv", seed=1)
    header, rows = read(tmp_path / "tx.csv")
    MAPPING.check_against(header)

    read_as = []
    for record in rows:
        when = event_time(record["TX_DATETIME"], None)
        assert not isinstance(when, str), when
        read_as.append(to_row(dict(record), MAPPING, when, "unused"))

    assert all(isinstance(row, Row) for row in read_as), {r for r in read_as if isinstance(r, str)}
    accepted = [row for row in read_as if isinstance(row, Row)]
    assert [row.txn.txn_id for row in accepted] == [r["TRANSACTION_ID"] for r in rows]
    assert [row.scenario or "" for row in accepted] == [r["TX_FRAUD_SCENARIO"] for r in rows]
