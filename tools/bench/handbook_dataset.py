"""A labelled card-transaction dataset built to the published design of the simulator in
"Reproducible Machine Learning for Credit Card Fraud Detection - Practical Handbook" (Le Borgne,
Siblini, Lebichot, Bontempi), chapter 3, "Simulated dataset"; our own numpy code, not theirs.

The design: customers and terminals at uniform points of a 100 x 100 grid; a customer has a mean
amount U(5, 100) (std half of it) and a mean count a day U(0, 4), and uses the terminals within
radius 5 of them, one drawn uniformly per transaction. Each day a customer makes Poisson(mean)
transactions, at a time of day N(noon, 20000 s) truncated to whole seconds (a draw outside the day
is dropped, not redrawn), of an amount N(mean, std) (a negative one redrawn U(0, 2 * mean)),
rounded to cents. The frauds, applied in this order, a later scenario relabelling an earlier one:
(1) every amount over 220; (2) each day (but the last) 2 terminals drawn, all their transactions
from that day to 27 days on; (3) each day (but the last) 3 customers drawn, 1/3 of their
transactions from that day to 13 days on drawn, their amounts times 5. With the defaults (5000
customers, 10000 terminals, 183 days from 2018-04-01) it is about 1.75M rows, 0.8% fraud.

How it differs: one seeded numpy Generator drives everything (the handbook seeds numpy and
`random` per customer and per day), so the rows are not theirs, only alike in distribution; an
amount that rounds to 0.00 is written as 0.01 (our importer rejects amounts <= 0); ties in time
keep generation order. The output has the handbook's columns but TX_TIME_SECONDS/TX_TIME_DAYS, and
TX_FRAUD_SCENARIO is the scenario's NAME (SCENARIO_NAMES) on a fraud and "" on a genuine row,
where the handbook writes 0..3, so that an import keeps it as the label's free-text scenario:
txn_id=TRANSACTION_ID,card_id=CUSTOMER_ID,merchant_id=TERMINAL_ID,amount=TX_AMOUNT,
event_time=TX_DATETIME,label=TX_FRAUD,scenario=TX_FRAUD_SCENARIO"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

SCENARIO_NAMES = {1: "amount_over_220", 2: "compromised_terminal", 3: "compromised_customer"}
COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
)
GRID, RADIUS = 100.0, 5.0
DAY, NOON, TIME_STD = 86_400, 43_200.0, 20_000.0
AMOUNT_LIMIT = 220.0
TERMINALS_A_DAY, TERMINAL_DAYS = 2, 28
CUSTOMERS_A_DAY, CUSTOMER_DAYS, CUSTOMER_MULTIPLIER = 3, 14, 5.0
BLOCK = 256  # customers per block of the distance matrix: 256 x 10000 floats stay ~20 MB

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DatasetSummary:
    rows: int
    frauds: int
    frauds_by_scenario: dict[str, int]  # by SCENARIO_NAMES, each fraud under its final scenario
    first_time: datetime
    last_time: datetime

    @property
    def fraud_share(self) -> float:
        return self.frauds / self.rows if self.rows else 0.0


def _reachable(
    customers: npt.NDArray[np.float64], terminals: npt.NDArray[np.float64]
) -> tuple[Ints, Ints]:
    """Each customer's terminals within RADIUS as CSR: customer c's are flat[start[c]:start[c+1]].
    In blocks of customers, since the whole matrix (5000 x 10000) would take 400 MB."""
    found: list[Ints] = []
    counts: list[Ints] = []
    for lo in range(0, len(customers), BLOCK):
        block = customers[lo : lo + BLOCK]
        d2 = (block[:, :1] - terminals[:, 0]) ** 2 + (block[:, 1:] - terminals[:, 1]) ** 2
        rows, cols = np.nonzero(d2 < RADIUS**2)  # row-major: each customer's ids in order
        found.append(cols.astype(np.int64))
        counts.append(np.bincount(rows, minlength=len(block)).astype(np.int64))
    start = np.zeros(len(customers) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(counts), out=start[1:])
    return start, np.concatenate(found)


def _simulate(
    rng: np.random.Generator, n_customers: int, n_terminals: int, days: int
) -> tuple[Ints, Ints, Ints, npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """(seconds from the start, customer, terminal, amount, scenario 0..3), in customer order."""
    place = rng.uniform(0, GRID, (n_customers, 2))
    mean = rng.uniform(5, 100, n_customers)
    per_day = rng.uniform(0, 4, n_customers)
    start, flat = _reachable(place, rng.uniform(0, GRID, (n_terminals, 2)))
    reach = np.diff(start)

    # A transaction per (customer, day) slot and draw; all draws at once, then the handbook's
    # drops (a time outside the day, a customer with no terminal in reach) as one mask.
    counts = rng.poisson(per_day[:, None], (n_customers, days))
    customer, day = np.divmod(np.repeat(np.arange(n_customers * days), counts.ravel()), days)
    tod = np.trunc(rng.normal(NOON, TIME_STD, len(customer)))  # int() in the handbook: truncate
    amount = rng.normal(mean[customer], mean[customer] / 2)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[customer[negative]])
    keep = (tod > 0) & (tod < DAY) & (reach[customer] > 0)
    customer, day, tod, amount = customer[keep], day[keep], tod[keep], amount[keep]
    terminal = flat[start[customer] + rng.integers(0, reach[customer])]
    amount = np.maximum(np.round(amount, 2), 0.01)

    scenario = np.where(amount > AMOUNT_LIMIT, 1, 0).astype(np.int8)
    last = int(day.max()) if len(day) else 0  # the handbook draws on range(max day)
    by_terminal = np.argsort(terminal, kind="stable")
    t_start = np.searchsorted(terminal[by_terminal], np.arange(n_terminals + 1))
    c_start = np.searchsorted(customer, np.arange(n_customers + 1))  # rows are customer-sorted
    for d in range(last):
        hit = rng.choice(n_terminals, min(TERMINALS_A_DAY, n_terminals), replace=False)
        rows = np.concatenate([by_terminal[t_start[t] : t_start[t + 1]] for t in hit])
        scenario[rows[(day[rows] >= d) & (day[rows] < d + TERMINAL_DAYS)]] = 2
    for d in range(last):
        # As in the handbook: drawn among all the customer's transactions in the window, fraud
        # already or not, so one drawn on two days (the windows overlap) is multiplied twice.
        hit = rng.choice(n_customers, min(CUSTOMERS_A_DAY, n_customers), replace=False)
        rows = np.concatenate([np.arange(c_start[c], c_start[c + 1]) for c in hit])
        rows = rows[(day[rows] >= d) & (day[rows] < d + CUSTOMER_DAYS)]
        chosen = rng.choice(rows, len(rows) // 3, replace=False)
        amount[chosen] = np.round(amount[chosen] * CUSTOMER_MULTIPLIER, 2)
        scenario[chosen] = 3
    return day * DAY + tod.astype(np.int64), customer, terminal, amount, scenario


def _arrow(values: npt.NDArray[Any], kind: Any) -> Any:
    """An Arrow array over a numpy array's buffer. Not pa.array(), which imports pandas (to look
    for its types): seconds on a cold start, more than the whole of a small dataset."""
    data = pa.py_buffer(np.ascontiguousarray(values))
    return pa.Array.from_buffers(kind, len(values), [None, data])


def _strings(values: list[str]) -> Any:
    """A small Arrow string array, built from its buffers for the same reason."""
    encoded = [v.encode() for v in values]
    offsets = np.cumsum([0, *map(len, encoded)], dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))
    )


def write_dataset(
    path: Path,
    customers: int = 5000,
    terminals: int = 10000,
    days: int = 183,
    seed: int = 0,
    start: date = date(2018, 4, 1),
) -> DatasetSummary:
    """Simulate and write the dataset to `path`, Parquet for .parquet, else CSV; sorted by time,
    TRANSACTION_ID its rank in that order (as the handbook numbers it)."""
    seconds, customer, terminal, amount, scenario = _simulate(
        np.random.default_rng(seed), customers, terminals, days
    )
    order = np.argsort(seconds, kind="stable")  # stable: equal times keep generation order
    seconds, scenario = seconds[order], scenario[order]
    epoch = (start - date(1970, 1, 1)).days * DAY
    stamps = _arrow(seconds + epoch, pa.timestamp("s"))
    columns = [
        _arrow(np.arange(len(seconds), dtype=np.int64), pa.int64()),
        pc.strftime(stamps, format="%Y-%m-%d %H:%M:%S"),
        _arrow(customer[order], pa.int64()),
        _arrow(terminal[order], pa.int64()),
        _arrow(amount[order], pa.float64()),
        _arrow((scenario > 0).astype(np.int8), pa.int8()),
        pc.take(_strings(["", *SCENARIO_NAMES.values()]), _arrow(scenario, pa.int8())),
    ]
    table = pa.Table.from_arrays(columns, names=list(COLUMNS))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        pq.write_table(table, path)
    else:
        # Cents as a decimal, so that CSV reads 146.00 rather than 146; our own header line,
        # since Arrow quotes the names it writes; no field here has a comma or a quote.
        table = table.set_column(4, "TX_AMOUNT", table["TX_AMOUNT"].cast(pa.decimal128(12, 2)))
        with path.open("wb") as file:
            file.write((",".join(COLUMNS) + "\n").encode())
            options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
            pa_csv.write_csv(table, file, options)
    first, last = (int(seconds[0]), int(seconds[-1])) if len(seconds) else (0, 0)
    origin = datetime.combine(start, time())
    counts = np.bincount(scenario, minlength=len(SCENARIO_NAMES) + 1)
    return DatasetSummary(
        rows=len(seconds),
        frauds=int(counts[1:].sum()),
        frauds_by_scenario={name: int(counts[k]) for k, name in SCENARIO_NAMES.items()},
        first_time=origin + timedelta(seconds=first),
        last_time=origin + timedelta(seconds=last),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the handbook's simulated dataset (ch. 3).")
    parser.add_argument("path", type=Path, help="output file: .parquet, else CSV")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--terminals", type=int, default=10000)
    parser.add_argument("--days", type=int, default=183)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2018, 4, 1))
    args = parser.parse_args(argv)
    s = write_dataset(args.path, args.customers, args.terminals, args.days, args.seed, args.start)
    by = ", ".join(f"{name} {n:,}" for name, n in s.frauds_by_scenario.items())
    print(f"{args.path}: {s.rows:,} rows, {s.frauds:,} frauds ({s.fraud_share:.2%}: {by})")
    print(f"event time {s.first_time} .. {s.last_time}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
