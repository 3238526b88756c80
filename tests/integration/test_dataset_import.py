"""`hybrid stream import` against real Kafka and PostgreSQL: a small dataset with every kind of
bad row, in CSV, Parquet and JSON lines; the events in event-time order per card, keyed by card,
the labels out of band, the rejected rows counted by reason and kept with it; a second import
adds nothing; an import that dies between two of its Kafka transactions, run again, sends each
row exactly once."""

from __future__ import annotations

import csv
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.db.connections import connect
from core.kafka import create_topic, read_to_end
from core.settings import Settings
from domain.fraud import dataset_import
from domain.fraud.dataset import ColumnMapping
from domain.fraud.dataset_import import import_dataset
from domain.fraud.events import Transaction
from domain.pipeline.etl import plan_run, run_features_job

MAPPING = ColumnMapping.parse(
    "txn_id=ID,card_id=CUSTOMER,merchant_id=TERMINAL,amount=AMOUNT,event_time=WHEN,"
    "label=FRAUD,scenario=SCENARIO"
)
START = datetime(2018, 4, 1, tzinfo=UTC)
BAD = {
    "amount zero or negative": [{"AMOUNT": "0"}, {"AMOUNT": "-4.00"}],
    "amount is not a number": [{"AMOUNT": "lots"}],
    "unparseable event_time": [{"WHEN": "2018-13-45 99:00"}],
    "missing card_id": [{"CUSTOMER": ""}],
    "missing merchant_id": [{"TERMINAL": ""}],
}


def rows(run: str, count: int) -> list[dict[str, str]]:
    """`count` good rows in no particular time order (the file's order is not event time's),
    then the bad ones."""
    good = [
        {
            "ID": f"{run}-{i}",
            "CUSTOMER": f"{run}-c{i % 37}",
            "TERMINAL": f"t{i % 11}",
            "AMOUNT": f"{5 + i % 50}.25",
            "WHEN": (START + timedelta(seconds=(i * 7919) % count)).isoformat(sep=" "),
            "FRAUD": "1" if i % 25 == 0 else "0",
            "SCENARIO": "compromised terminal" if i % 50 == 0 else "",
        }
        for i in range(count)
    ]
    bad = [
        {**good[0], "ID": f"{run}-bad-{reason[:6]}-{n}", **change}
        for reason, changes in BAD.items()
        for n, change in enumerate(changes)
    ]
    return good + bad


def write(path: Path, records: list[dict[str, str]]) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def on_topic(settings: Settings, topic: str) -> list[tuple[str | None, Transaction]]:
    return [
        (key, Transaction.model_validate_json(value))
        for key, value in read_to_end(settings, topic, committed_only=True)
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_an_import_sends_the_good_rows_in_order_and_counts_the_bad_by_reason(
    stack, base_settings: Settings, tmp_path: Path, suffix: str
) -> None:
    run = uuid.uuid4().hex[:6]
    file = write(tmp_path / f"dataset{suffix}", rows(run, 400))
    topic = create_topic(base_settings, "import")

    report = import_dataset(base_settings, file, MAPPING, topic)

    assert report.rows_read == 400 + sum(len(changes) for changes in BAD.values())
    assert report.rows_imported == 400
    assert dict(report.rejected) == {reason: len(c) for reason, c in BAD.items()}
    rejected = list(csv.DictReader(report.rejects_file.open()))  # type: ignore[union-attr]
    assert Counter(r["reason"] for r in rejected) == report.rejected
    assert {json.loads(r["record"])["ID"] for r in rejected} == {
        f"{run}-bad-{reason[:6]}-{n}" for reason, c in BAD.items() for n in range(len(c))
    }
    records = on_topic(base_settings, topic)
    assert len(records) == 400
    assert all(key == txn.card_id for key, txn in records)
    by_card: dict[str, list[datetime]] = {}
    for _, txn in records:
        by_card.setdefault(txn.card_id, []).append(txn.event_time)
    assert all(times == sorted(times) for times in by_card.values())  # per partition, in order
    with connect(base_settings.postgres_dsn) as conn:
        labels = conn.execute(
            "select txn_id, scenario from transaction_labels where dataset_id = %s",
            (report.dataset_id,),
        ).fetchall()
    assert len(labels) == 16  # every 25th of 400
    assert Counter(scenario for _, scenario in labels) == {"compromised terminal": 8, "fraud": 8}

    again = import_dataset(base_settings, file, MAPPING, topic)
    assert (again.rows_imported, again.rows_already) == (0, 400)
    assert len(on_topic(base_settings, topic)) == 400


def test_an_import_that_dies_midway_sends_each_row_once_when_run_again(
    stack, base_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write(tmp_path / "dataset.csv", rows(uuid.uuid4().hex[:6], 1000))
    topic = create_topic(base_settings, "import-crash")
    monkeypatch.setattr(dataset_import, "BATCH_ROWS", 300)
    sent = dataset_import.send_record
    calls = Counter[str]()

    def dies_in_the_third_transaction(sender, to: str, key: bytes, value: bytes) -> None:
        calls[to] += 1
        if calls[topic] == 700:  # the third batch's 100th record: it is never committed
            raise ConnectionError("the importing process died")
        sent(sender, to, key, value)

    monkeypatch.setattr(dataset_import, "send_record", dies_in_the_third_transaction)
    with pytest.raises(ConnectionError):
        import_dataset(base_settings, file, MAPPING, topic)
    monkeypatch.setattr(dataset_import, "send_record", sent)

    report = import_dataset(base_settings, file, MAPPING, topic)

    assert (report.rows_already, report.rows_imported) == (600, 400)
    ids = [txn.txn_id for _, txn in on_topic(base_settings, topic)]
    assert len(ids) == 1000
    assert len(set(ids)) == 1000

    # the Spark ETL reads the topic as the detector does: what was committed, once
    etl = base_settings.model_copy(update={"transactions_topic": topic, "lake_dir": tmp_path})
    result = run_features_job(etl, plan_run(etl, topic, f"etl-import-{uuid.uuid4().hex[:6]}"))
    features = pq.read_table(result.output).select(["txn_id", "is_fraud"]).to_pylist()
    assert sorted(f["txn_id"] for f in features) == sorted(ids)
    # and the import's labels are its ground truth: every 25th row was labelled fraud
    frauds = {f["txn_id"] for f in features if f["is_fraud"]}
    assert frauds == {txn_id for txn_id in ids if int(txn_id.rsplit("-", 1)[1]) % 25 == 0}
