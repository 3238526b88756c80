"""`hybrid stream import FILE`: a labelled dataset (CSV, Parquet or JSON lines) onto a Kafka
topic as our transactions, keyed by card, in event-time order; its fraud labels into
PostgreSQL; its rejected rows into a file, each with the reason.

Exactly once, whatever happens to the import: the records go in Kafka transactions of a
producer whose transactional id names the file (its digest) and the topic, and each
transaction also writes how far the import got to the compacted imports topic. A second run
fences the first, aborts what it left open, reads that position (read_committed) and goes on
from there; run after a finished import, it adds nothing. Labels are upserts by transaction id.

Rows are validated twice (once to find every event time, to sort; once as they are sent): a
row holds no memory between the two but its place in the order."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from confluent_kafka import KafkaException, Producer

from core.db.connections import connect
from core.errors import InvalidInput
from core.kafka import ensure_topics, kafka_unavailable, producer, read_to_end, send_record
from core.settings import Settings
from domain.fraud.dataset import ColumnMapping, EpochUnit, Row, event_time, to_row

log = logging.getLogger("import")

BATCH_ROWS = 20_000  # per Kafka transaction (and progress record)
PACED_COMMIT_S = 1.0  # paced, a transaction ends at least this often: its rows show then
Progress = Callable[[str, int, int], None]  # (phase, rows done, rows in all)


@dataclass
class ImportReport:
    dataset_id: str
    topic: str
    rows_read: int = 0
    rows_imported: int = 0  # sent by this run
    rows_already: int = 0  # sent by an earlier run of the same import
    rejected: Counter[str] = field(default_factory=Counter)
    fraud_rows: int = 0
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None
    rejects_file: Path | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = self.rows_imported / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.dataset_id}: {self.rows_read:,} rows read,"
            f" {self.rows_imported:,} sent to {self.topic} ({rate:,.0f} rows/s),"
            f" {sum(self.rejected.values()):,} rejected, {self.fraud_rows:,} labelled fraud",
        ]
        if self.rows_already:
            lines.append(
                f"{self.rows_already:,} rows were on the topic from an earlier run of this"
                " import: not sent again"
            )
        if self.first_event_time and self.last_event_time:
            lines.append(f"event time {self.first_event_time} .. {self.last_event_time}")
        for reason, count in self.rejected.most_common():
            lines.append(f"  rejected: {count:,} {reason}")
        if self.rejects_file and self.rejected:
            lines.append(f"rejected rows with their reasons: {self.rejects_file}")
        return lines


def read_table(path: Path) -> pa.Table:
    """The whole file as an Arrow table: CSV (every column as text, so that a bad value is the
    row's problem, not the column's), Parquet, or JSON lines (.jsonl / .ndjson / .json)."""
    if not path.is_file():
        raise InvalidInput(f"no file {path}", subject="import")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(newline="") as file:
                names = next(csv.reader(file), [])
            return pa_csv.read_csv(
                path,
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string())
                ),
            )
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in {".jsonl", ".ndjson", ".json"}:
            return pa_json.read_json(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(
            f"{path} cannot be read as {suffix[1:]}: {exc}", subject="import"
        ) from exc
    raise InvalidInput(
        f"{path}: give a .csv, .parquet or .jsonl file (JSON lines)", subject="import"
    )


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=50_000):
        yield from batch.to_pylist()


def import_dataset(
    settings: Settings,
    path: Path,
    mapping: ColumnMapping,
    topic: str,
    *,
    epoch_unit: EpochUnit | None = None,
    speed: float | None = None,
    rejects_file: Path | None = None,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Import the file; `speed` paces it at that many times real time (None: as fast as
    possible)."""
    began = time.monotonic()
    table = read_table(path)
    mapping.check_against(table.column_names)
    digest = file_digest(path)
    report = ImportReport(dataset_id=f"{path.stem}-{digest[:8]}", topic=topic)
    report.rejects_file = rejects_file or path.with_name(f"{path.stem}.rejects.csv")
    time_column = mapping.event_time

    # 1. every row's event time (and verdict), the rejected ones written with their reason
    times = np.empty(table.num_rows, dtype=np.int64)
    accepted = np.zeros(table.num_rows, dtype=bool)
    with report.rejects_file.open("w", newline="") as out:
        rejects = csv.writer(out)
        rejects.writerow(["row", "reason", "record"])
        for index, record in enumerate(_rows(table)):
            if on_progress and index % 50_000 == 0:
                on_progress("checking", index, table.num_rows)
            verdict = _verdict(record, mapping, time_column, epoch_unit, report.dataset_id, index)
            if isinstance(verdict, str):
                report.rejected[verdict] += 1
                rejects.writerow([index + 1, verdict, json.dumps(record, default=str)])
                continue
            times[index] = int(verdict.txn.event_time.timestamp() * 1000)
            accepted[index] = True
            report.fraud_rows += bool(verdict.fraud)
    report.rows_read = table.num_rows
    rows = np.flatnonzero(accepted)
    order = rows[np.argsort(times[rows], kind="stable")]  # event time, then file order
    if len(order):
        report.first_event_time = datetime.fromtimestamp(times[order[0]] / 1000, UTC)
        report.last_event_time = datetime.fromtimestamp(times[order[-1]] / 1000, UTC)

    # 2. in event-time order, in transactions that also record how far the import got
    ensure_topics(
        settings,
        {topic: settings.transactions_partitions, settings.imports_topic: 1},
        compacted=frozenset({settings.imports_topic}),
    )
    ledger_key = f"{digest}:{topic}"
    sender = producer(
        settings,
        **{"transactional.id": f"hybrid-import-{ledger_key}", "linger.ms": 20},
    )
    try:
        sender.init_transactions(30)  # fences an earlier run and aborts what it left open
    except KafkaException as exc:
        raise kafka_unavailable(settings, exc) from exc
    report.rows_already = _sent_before(settings, ledger_key)
    sorted_table = table.take(pa.array(order[report.rows_already :]))
    paced = _Pacer(speed)
    done = report.rows_already
    batch: list[Row] = []
    batch_began = time.monotonic()
    for index, record in enumerate(_rows(sorted_table)):
        verdict = _verdict(
            record,
            mapping,
            time_column,
            epoch_unit,
            report.dataset_id,
            int(order[report.rows_already + index]),
        )
        if isinstance(verdict, str):  # cannot happen: the same row passed in step 1
            raise RuntimeError(f"row {order[report.rows_already + index] + 1}: {verdict}")
        paced.wait(verdict.txn.event_time)
        batch.append(verdict)
        if len(batch) == BATCH_ROWS or (speed and time.monotonic() - batch_began >= PACED_COMMIT_S):
            done = _send(settings, sender, topic, ledger_key, report.dataset_id, batch, done)
            batch, batch_began = [], time.monotonic()
            if on_progress:
                on_progress("sending", done, len(order))
    if batch:
        done = _send(settings, sender, topic, ledger_key, report.dataset_id, batch, done)
    if on_progress:
        on_progress("sending", done, len(order))
    report.rows_imported = done - report.rows_already
    report.seconds = time.monotonic() - began
    _record(settings, report, path, digest)
    return report


def _verdict(
    record: dict[str, Any],
    mapping: ColumnMapping,
    time_column: str,
    epoch_unit: EpochUnit | None,
    dataset_id: str,
    index: int,
) -> Row | str:
    when = event_time(record.get(time_column), epoch_unit)
    if isinstance(when, str):
        return when
    return to_row(record, mapping, when, f"{dataset_id}-{index + 1}")


def _send(
    settings: Settings,
    sender: Producer,
    topic: str,
    ledger_key: str,
    dataset_id: str,
    batch: list[Row],
    done: int,
) -> int:
    """One Kafka transaction: the batch's records and the import's new position; the batch's
    labels are upserted first (a retry rewrites the same rows)."""
    _store_labels(settings, dataset_id, [row for row in batch if row.fraud])
    sender.begin_transaction()
    for row in batch:
        send_record(sender, topic, row.txn.card_id.encode(), row.txn.model_dump_json().encode())
    done += len(batch)
    send_record(
        sender,
        settings.imports_topic,
        ledger_key.encode(),
        json.dumps({"rows_sent": done}).encode(),
    )
    sender.commit_transaction(60)
    return done


def _sent_before(settings: Settings, ledger_key: str) -> int:
    """Rows an earlier run of this import committed: the latest position on the imports topic."""
    received = read_to_end(settings, settings.imports_topic, timeout_s=30, committed_only=True)
    positions = [json.loads(value)["rows_sent"] for key, value in received if key == ledger_key]
    return positions[-1] if positions else 0


def _store_labels(settings: Settings, dataset_id: str, rows: list[Row]) -> None:
    if not rows:
        return
    with connect(settings.postgres_dsn) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "insert into transaction_labels (txn_id, dataset_id, card_id, event_time, scenario)"
            " values (%s, %s, %s, %s, %s) on conflict (txn_id) do nothing",
            [(r.txn.txn_id, dataset_id, r.txn.card_id, r.txn.event_time, r.scenario) for r in rows],
        )


def _record(settings: Settings, report: ImportReport, path: Path, digest: str) -> None:
    with connect(settings.postgres_dsn) as conn, conn.cursor() as cursor:
        cursor.execute(
            "insert into dataset_imports (dataset_id, file_name, file_digest, topic, rows_read,"
            " rows_imported, rows_rejected, rejected, fraud_rows, first_event_time,"
            " last_event_time) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (dataset_id) do update set imported_at = now()",
            (
                report.dataset_id,
                path.name,
                digest,
                report.topic,
                report.rows_read,
                report.rows_already + report.rows_imported,
                sum(report.rejected.values()),
                json.dumps(dict(report.rejected)),
                report.fraud_rows,
                report.first_event_time,
                report.last_event_time,
            ),
        )


class _Pacer:
    """Holds each row until its event time, scaled by `speed`, has come on the wall clock."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self.origin: tuple[float, float] | None = None

    def wait(self, when: datetime) -> None:
        if not self.speed:
            return
        if self.origin is None:
            self.origin = (when.timestamp(), time.monotonic())
            return
        due = self.origin[1] + (when.timestamp() - self.origin[0]) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
