"""The model benchmark's small size: the file's earliest fifth by event time, whatever the
file's row order."""

from pathlib import Path

import pyarrow.parquet as pq

from domain.fraud.dataset import ColumnMapping
from tools.bench.model import first_fifth


def test_the_small_size_is_the_earliest_fifth_of_the_rows(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    hours = [7, 3, 9, 1, 5, 0, 8, 2, 6, 4]  # not in time order
    source.write_text(
        "ID,CARD,SHOP,AMT,TS\n"
        + "".join(f"t{h},c{h % 3},m1,10.00,2026-01-01 0{h}:00:00\n" for h in hours)
    )
    mapping = ColumnMapping.parse(
        "txn_id=ID,card_id=CARD,merchant_id=SHOP,amount=AMT,event_time=TS"
    )
    subset = pq.read_table(first_fifth(source, mapping, tmp_path))
    assert sorted(subset.column("ID").to_pylist()) == ["t0", "t1"]
