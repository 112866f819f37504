"""The pure sync core's share of a push: what the server does per pushed record before any SQL.

    .venv/bin/python bench/sync_core_bench.py [--n 5000] [--repeat 12]

The phone's records of bench/sync_bench.py (N new contacts, then an edit of 1-2 fields of
each), sent through JSON as the server receives them; for each record, the server's sequence:
merge_push (authorship_errors, merge and new_siblings in one pass for the usual push; the
three of them otherwise), then visible.
Prints the best of `--repeat` runs in µs of CPU per record, for creates and for edits: the best
run, because this is a single-threaded loop whose slower runs are the machine's doing.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import msgspec  # noqa: E402

import sync  # noqa: E402
from sync_bench import Phone  # noqa: E402

REPLICA = "benchphone1"


def _as_received(records: list[sync.Record]) -> list[sync.Record]:
    return msgspec.json.decode(msgspec.json.encode(records), type=list[sync.Record])


def per_record_us(records: list[sync.Record], known: dict[str, sync.Record] | None) -> float:
    start = time.process_time()
    for record in records:
        before = known.get(record.id) if known else None
        usual = sync.merge_push(record, before, REPLICA)
        if usual is None:
            errors = sync.authorship_errors(record, before, REPLICA)
            if errors:
                raise RuntimeError(f"the bench's own record was refused: {errors}")
            merged = sync.merge(before if before is not None else sync.new(record.type, record.id), record)
            sync.new_siblings(record, before)
        else:
            merged = usual[0]
        sync.visible(merged)
    return (time.process_time() - start) / len(records) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=12)
    args = parser.parse_args()
    phone = Phone(None, REPLICA, 1, random.Random(1))  # type: ignore[arg-type]
    created = phone.creates(args.n)
    stored = {r.id: r for r in _as_received(created)}
    edited = _as_received(phone.edits([r.id for r in created]))
    created = _as_received(created)
    gc.collect()
    gc.freeze()
    creates = min(per_record_us(created, None) for _ in range(args.repeat))
    edits = min(per_record_us(edited, stored) for _ in range(args.repeat))
    print(f"sync core per pushed record (best of {args.repeat}, {args.n:,} records): creates {creates:.1f} µs, edits {edits:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
