"""The server's malloc settings: large buffers are reused, not faulted in afresh each time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Twenty pull answers' worth of buffers, made and freed in turn as the server makes them: a
# worker thread (aiosqlite's) grows the page of states by doubling (SQLite's group_concat) and
# hands over a copy, which the main thread copies again into the answer. Prints the page
# faults that the last twenty cost (the first ten may grow the heap).
_ANSWERS = """
import queue, resource, sys, threading
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "tuned":
    from server.memory import keep_large_buffers
    assert keep_large_buffers()
elif sys.argv[2] == "served":
    import server.asgi  # what uvicorn loads
asks, pages = queue.Queue(), queue.Queue()

def database():
    while asks.get():
        page = bytearray()
        for _ in range(1000):
            page += b"s" * 700
        pages.put(bytes(page))

threading.Thread(target=database, daemon=True).start()
for i in range(30):
    if i == 10:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    asks.put(True)
    states = pages.get()
    answer = b"{" + states + b"}"
    del states, answer
asks.put(False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _faults(how: str, env: dict[str, str] | None = None) -> int:
    args = [sys.executable, "-c", _ANSWERS, str(ROOT), how]
    return int(subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout.splitlines()[-1])


def test_large_answers_reuse_their_memory_rather_than_fault_it_in_again() -> None:
    # As glibc stands by default, answer after answer faults its buffers in anew (a fault per
    # 4 KiB page): about 300 a time here, 650 for a real pull page.
    assert _faults("as is") > 20 * 100
    assert _faults("tuned") < 20 * 10


def test_the_served_app_reuses_its_memory(tmp_path: Path) -> None:
    env = {**os.environ, "FIELDBOOK_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'fieldbook.db'}"}
    assert _faults("served", env) < 20 * 10
