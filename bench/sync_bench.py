"""Sync throughput: push (creates, then edits) and pull through the real server, against the raw driver.

    .venv/bin/python bench/sync_bench.py [--db sqlite|postgres|both] [--push N] [--pull N]
                                         [--batch 500] [--page 1000] [--rounds 3] [--py-spy DIR]
                                         [--seed 1]

For each database (default both; push 10,000, pull 50,000):

1. A fresh database: a SQLite file in a temporary FIELDBOOK_DATA_DIR, or a throwaway PostgreSQL
   server (tests.pgserver.PgServer) through DATABASE_URL; `fieldbook migrate`; one rep
   (`fieldbook user add --role rep --team North`, the password on stdin).
2. `fieldbook serve --port <free>` (one uvicorn worker) as a subprocess; sign in as the rep
   (session and CSRF cookies; X-CSRFToken on every POST); register a device.
3. Push, timed: N new contacts (name, team, title, phones, emails, tags, notes; made with the
   pure core `sync.edit`, as a phone would) in batches of `--batch` to POST /api/v1/sync/push;
   then N edits of those same contacts (1-2 fields each), same batches. Every result must be
   "ok". Request bodies are encoded before the clock starts; answers are checked after it stops.
4. Pull, timed: creates are pushed (untimed) until the server holds `--pull` records (then, on
   PostgreSQL, VACUUM ANALYZE, as autovacuum would soon do; the floor's table is analyzed too),
   then a fresh cursor pulls them all in pages of `--page` (the server caps it at 1000). Inside
   the clock the client reads of each answer only its tail (gone, cursor, more); decoding the
   states is the phone's work, as the floor decodes none. After the clock every page is decoded
   and the pulled states compared with the phone's own: every one must be there and equal.
5. The raw floor, in the same run and through the server's driver: aiosqlite on the same file
   (the server's pragmas, foreign keys on: its writer's, page cache included, on the connection
   that writes, its readers' on another that reads) or asyncpg on the same database. The same rows into
   the same schema: the server's own contact rows (every column as stored: state, view, seq,
   timestamps and the queryable columns; read untimed) go into a scratch table made with
   contact's own schema (SQLite: its CREATE TABLE and CREATE INDEX statements from sqlite_master,
   renamed; PostgreSQL: LIKE contact INCLUDING ALL, plus contact's foreign keys), so the same
   columns, constraints, indexes (6: the primary key, seq, name, company, list
   and pull) and foreign key. One `executemany` of N of them in one transaction ("raw write");
   the rest added untimed; then one SELECT of id, seq, state ordered by seq ("raw read"). The
   floor does NOT include what the server writes beside the record row: audience changes, the
   device row, the sync clock, and the search entry with its full-text index (FTS5 on SQLite,
   a GIN index on PostgreSQL). The server writes search entries after the push, in its
   background indexer (crm.services.SearchIndexer): that work counts whenever it runs inside a
   timed phase, and is otherwise left out, like the floor's.
   The same N rows are also written into a fresh same-schema table in transactions of
   `--batch` rows, each committed, as the server commits each push ("batched write"; after
   N others, untimed, as the median push round writes after one round's; on SQLite each
   commit followed by a background checkpoint on a connection of its own, as the server's):
   batched write / raw write is what the push's transaction shape alone costs the database,
   the most a push in those batches could reach; no goal is judged against it.
   The old bare floor is measured too and printed beside it ("bare write", "bare read"): rows
   built by the bench (id, state JSON, seq and the contact's columns, no view) into a scratch
   table with only a primary key and a seq index. Both scratch tables are dropped afterwards.
   Before it, this process's garbage collector is frozen (gc.freeze): the phone's tens of
   thousands of states in this process would otherwise slow the driver down about twice.
Each timed phase, and the floor, runs `--rounds` times (default 3): N new contacts per round,
then the edits of each round's contacts, a full pull per round, and the floor's write and read
into a fresh table per round. The table shows each phase's median round, and the log every
round's rate: this machine's speed swings by up to 2x from one minute to the next.

6. A table per database: records/s of each phase (wall clock); the CPU time per record of the
   process doing the work (the server, or this process for the raw floor; from /proc, so the
   client's own time never counts), of the server's event-loop thread alone (all its Python
   but what the driver's threads run: on SQLite, the SQL) and of PostgreSQL's processes;
   the push's bound were its SQL free (records per loop CPU second against the raw write,
   a ceiling that faster SQL cannot lift); records per CPU second of
   both together; and push/raw-write and pull/raw-read, by wall clock (what the goals mean:
   push >= 25 %, pull >= 50 %) and by CPU (steadier when other work shares the machine, which
   the table warns about when the load average exceeds the CPU count); the goals are judged
   against the same-schema floor, and the ratios to the bare floor are printed below them.

With `--py-spy DIR`, `py-spy record --nonblocking --format raw` samples the server during each
timed phase into DIR/<db>-<phase>.txt (collapsed stacks; sampling slows the server a little, so
take the figures from a run without it).

Servers, PostgreSQL and temporary directories are removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

import sync  # noqa: E402

EMAIL, PASSWORD, TEAM = "bench.rep@fieldbook.test", "bench-password-1", "North"
SESSION_COOKIE, CSRF_COOKIE = "fieldbook_session", "csrftoken"
PUSH_GOAL, PULL_GOAL = 0.25, 0.50
T0 = 1_763_800_000_000  # the phone's wall clock, ms


# -- the phone's records -------------------------------------------------------------------

FIRST = "Ada Alan Grace Edsger Barbara Donald Frances Ken Margaret Dennis Radia Niklaus Sophie John Hedy Tim".split()
LAST = "Lovelace Turing Hopper Dijkstra Liskov Knuth Allen Thompson Hamilton Ritchie Perlman Wirth Wilson Backus Lamarr Berners-Lee".split()
TITLES = ["Buyer", "Head of Purchasing", "Store Manager", "Owner", "Procurement Lead", "Operations Director", "Sales Assistant", "CFO"]
TAGS = ["key account", "wholesale", "retail", "north", "prospect", "reorder", "trade fair", "vip"]
WORDS = (
    "met at the depot discussed spring order asked for samples prefers calls before ten "
    "new listing pending budget approval next quarter competitor visited last week pricing "
    "concern delivery window tuesdays follow up after trade fair wants the updated catalogue"
).split()


def _notes(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40))).capitalize() + "."


def _phone(rng: random.Random) -> str:
    return f"+44 {rng.randint(100, 199)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def new_contact(rng: random.Random, replica: str, team: int, i: int, clock: int) -> sync.Record:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    changes = {
        "name": f"{first} {last}",
        "team": team,
        "title": rng.choice(TITLES),
        "phones": [_phone(rng) for _ in range(rng.randint(1, 2))],
        "emails": [f"{first.lower()}.{last.lower()}{i}@example.test"],
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "notes": _notes(rng),
    }
    return sync.edit(sync.new("contact", record_id), replica, changes, clock)


def edit_contact(rng: random.Random, state: sync.Record, replica: str, clock: int) -> sync.Record:
    makers = {
        "title": lambda: rng.choice(TITLES),
        "phones": lambda: [_phone(rng) for _ in range(rng.randint(1, 3))],
        "notes": lambda: _notes(rng),
        "tags": lambda: rng.sample(TAGS, rng.randint(1, 3)),
        "name": lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}",
    }
    names = rng.sample(sorted(makers), rng.randint(1, 2))
    return sync.edit(state, replica, {n: makers[n]() for n in names}, clock)


# -- a minimal HTTP client (http.client: keep-alive, cookies by hand) ----------------------


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method != "GET" and CSRF_COOKIE in self.cookies:
            headers["X-CSRFToken"] = self.cookies[CSRF_COOKIE]
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def json(self, method: str, path: str, payload: Any = None, expect: int = 200) -> Any:
        body = None if payload is None else msgspec.json.encode(payload)
        status, data = self.request(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} answered {status}: {data[:300]!r}")
        return msgspec.json.decode(data)

    def close(self) -> None:
        self.conn.close()


class _Result(msgspec.Struct):
    id: str
    status: str
    errors: list[Any] | None = None


class _PushAnswer(msgspec.Struct):
    results: list[_Result]


class _PulledId(msgspec.Struct):
    id: str


class _PageHead(msgspec.Struct):
    records: list[_PulledId]
    cursor: str
    more: bool


class _PageTail(msgspec.Struct, forbid_unknown_fields=True):
    gone: list[Any]
    cursor: str
    more: bool


# -- processes ----------------------------------------------------------------------------


def fieldbook_command() -> list[str]:
    for candidate in (ROOT / ".venv" / "bin" / "fieldbook", Path(sys.executable).parent / "fieldbook"):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("fieldbook")
    if found:
        return [found]
    sys.exit("cannot find the `fieldbook` command; run `make` or `pip install -e .` first")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [*fieldbook_command(), *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"fieldbook {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _stat(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its threads (Linux /proc); NaN elsewhere."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else float("nan")


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of a process's main thread alone: in the server, the event loop, which runs all
    of its Python but for what the database driver's threads do (on SQLite, the SQL itself)."""
    fields = _stat(f"{pid}/task/{pid}")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else float("nan")


def tree_cpu_seconds(parent: int) -> float:
    """CPU time of a process and its children: PostgreSQL's postmaster and its backends.

    Backends that have exited count through the parent's cutime and cstime (it reaps them).
    """
    fields = _stat(parent)
    if not fields:
        return float("nan")
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(name)
            if fields and int(fields[1]) == parent:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Snap:
    wall: float
    server: float  # the uvicorn process (with its aiosqlite threads)
    loop: float  # the uvicorn process's main thread: its event loop
    db: float  # PostgreSQL's processes; 0 on SQLite (it runs inside the process that uses it)
    own: float  # this process (the raw floor's driver)


class Meter:
    """Wall clock and CPU clocks of everything that does the work, at the edges of a phase."""

    def __init__(self) -> None:
        self.server_pid: int | None = None
        self.postmaster_pid: int | None = None

    def snap(self) -> Snap:
        return Snap(
            wall=time.perf_counter(),
            server=cpu_seconds(self.server_pid) if self.server_pid else 0.0,
            loop=main_thread_cpu_seconds(self.server_pid) if self.server_pid else 0.0,
            db=tree_cpu_seconds(self.postmaster_pid) if self.postmaster_pid else 0.0,
            own=time.process_time(),
        )


METER = Meter()


class Server:
    """`fieldbook serve` on a free port, its log in the data directory."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = None

    def start(self) -> None:
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [*fieldbook_command(), "serve", "--port", str(self.port), "--workers", "1"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no answer from /healthz within 60 s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            print(f"the server had exited with {self.process.returncode}; the end of its log:\n{self.log_tail()}", file=sys.stderr)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None


class Sampler:
    """py-spy record of the server during one phase (only with --py-spy)."""

    def __init__(self, out_dir: Path | None, pid: int, name: str) -> None:
        self.out_dir, self.pid, self.name = out_dir, pid, name
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Sampler:
        if self.out_dir is None:
            return self
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.path = self.out_dir / f"{self.name}.txt"
        self.process = subprocess.Popen(
            [spy, "record", "--pid", str(self.pid), "--rate", "200", "--nonblocking", "--format", "raw", "-o", str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # let it attach
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if self.process.returncode not in (0, -signal.SIGINT) and not self.path.exists():
            print(f"  py-spy failed: {err.decode(errors='replace')[-300:]}")
        else:
            print(f"  py-spy samples: {self.path}")


# -- the phases ---------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    records: int
    seconds: float
    #: CPU seconds of the process doing the work (the server, or this process for the raw floor).
    cpu: float
    #: CPU seconds of PostgreSQL's processes (0 on SQLite).
    db_cpu: float
    note: str = ""
    #: CPU seconds of the server's event-loop thread (NaN for the raw floor, which has no server).
    loop_cpu: float = float("nan")

    @classmethod
    def measured(cls, name: str, records: int, a: Snap, b: Snap, *, raw: bool = False, note: str = "") -> Phase:
        cpu = (b.own - a.own) if raw else (b.server - a.server)
        return cls(name, records, b.wall - a.wall, cpu, b.db - a.db, note, float("nan") if raw else b.loop - a.loop)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cpu_rate(self) -> float:
        """Records per CPU second of everything that worked: steadier than `rate` on a busy machine."""
        spent = self.cpu + self.db_cpu
        return self.records / spent if spent > 0 else float("nan")

    def per_record_ms(self, seconds: float) -> float:
        return seconds / self.records * 1000 if self.records else float("nan")


def median_phase(rounds: list[Phase]) -> Phase:
    """The round of median wall time per record, noting every round's rate: this machine's speed
    swings from run to run, and a median of rounds is steadier than any one of them."""
    ordered = sorted(rounds, key=lambda phase: phase.seconds / phase.records)
    middle = ordered[len(ordered) // 2]
    if len(rounds) == 1:
        return middle
    rates = ", ".join(f"{phase.rate:,.0f}" for phase in rounds)
    note = f"median of {len(rounds)} rounds ({rates} rec/s)" + (f"; {middle.note}" if middle.note else "")
    return Phase(middle.name, middle.records, middle.seconds, middle.cpu, middle.db_cpu, note, middle.loop_cpu)


@dataclass
class Phone:
    client: Client
    replica: str
    team: int
    rng: random.Random
    states: dict[str, sync.Record] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    clock: int = T0

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def bodies(self, records: list[sync.Record], batch: int) -> list[bytes]:
        return [
            msgspec.json.encode({"replica": self.replica, "records": records[i : i + batch]})
            for i in range(0, len(records), batch)
        ]

    def send(self, bodies: list[bytes], expected: list[sync.Record], name: str) -> Phase:
        """Push the prepared bodies one after another; time only the round trips, then check."""
        answers: list[tuple[int, bytes]] = []
        start = METER.snap()
        for body in bodies:
            answers.append(self.client.request("POST", "/api/v1/sync/push", body))
        end = METER.snap()
        results: list[_Result] = []
        for status, data in answers:
            if status != 200:
                raise RuntimeError(f"push answered {status}: {data[:300]!r}")
            results += msgspec.json.decode(data, type=_PushAnswer).results
        if len(results) != len(expected):
            raise RuntimeError(f"push answered {len(results)} results for {len(expected)} records")
        bad = [r for r in results if r.status != "ok"]
        if bad:
            raise RuntimeError(f"{len(bad)} of {len(results)} pushed records were rejected, e.g. {bad[0]}")
        if [r.id for r in results] != [r.id for r in expected]:
            raise RuntimeError("push results are not in the order of the records pushed")
        return Phase.measured(name, len(expected), start, end)

    def index(self, records: int, name: str) -> Phase:
        """Time a search, which first brings the search index up to the last change (the pushed
        `records`, unless the server's background indexer already took some in)."""
        start = METER.snap()
        status, data = self.client.request("GET", "/api/v1/contacts?q=lovelace&limit=1")
        end = METER.snap()
        if status != 200:
            raise RuntimeError(f"search answered {status}: {data[:300]!r}")
        return Phase.measured(name, records, start, end)

    def creates(self, count: int) -> list[sync.Record]:
        out = []
        for _ in range(count):
            i = len(self.order)
            record = new_contact(self.rng, self.replica, self.team, i, self.tick())
            self.states[record.id] = record
            self.order.append(record.id)
            out.append(record)
        return out

    def edits(self, ids: list[str]) -> list[sync.Record]:
        out = []
        for record_id in ids:
            record = edit_contact(self.rng, self.states[record_id], self.replica, self.tick())
            self.states[record_id] = record
            out.append(record)
        return out

    def pull_all(self, page: int) -> tuple[Phase, list[bytes]]:
        """Pull from a fresh cursor to the end. Inside the clock the client reads only what it
        needs to ask for the next page: the answer's tail (gone, cursor, more), which follows
        the records. Decoding the records is the phone's work, not the server's, as the floor
        decodes none: it is timed apart ("client JSON decode"), and check_pulled then checks
        every state."""
        pages: list[bytes] = []
        cursor: str | None = None
        start = METER.snap()
        while True:
            path = f"/api/v1/sync/pull?limit={page}"
            if cursor:
                path += "&after=" + urllib.parse.quote(cursor)
            status, data = self.client.request("GET", path)
            if status != 200:
                raise RuntimeError(f"pull answered {status}: {data[:300]!r}")
            # The last "gone" key is the answer's own: the records come before it, and a
            # record's fields hold lists, never a string after the key.
            tail = msgspec.json.decode(b"{" + data[data.rindex(b'"gone":') :], type=_PageTail)
            pages.append(data)
            cursor = tail.cursor
            if not tail.more:
                break
        end = METER.snap()
        c0 = time.perf_counter()
        count = sum(len(msgspec.json.decode(data, type=_PageHead).records) for data in pages)
        note = f"{len(pages)} pages; client JSON decode of them all, untimed: {time.perf_counter() - c0:.2f} s"
        return Phase.measured("pull", count, start, end, note=note), pages

    def check_pulled(self, pages: list[bytes]) -> None:
        seen: dict[str, sync.Record] = {}
        for data in pages:
            body = msgspec.json.decode(data, type=sync.PullPage)
            for record in body.records:
                seen[record.id] = record
            if body.gone:
                raise RuntimeError(f"pull listed {len(body.gone)} records as gone")
        missing = [i for i in self.order if i not in seen]
        if missing:
            raise RuntimeError(f"pull did not return {len(missing)} of the {len(self.order)} records pushed")
        extra = len(seen) - len(self.order)
        if extra:
            raise RuntimeError(f"pull returned {extra} records the phone never pushed")
        unequal = [i for i in self.order if seen[i] != self.states[i]]
        if unequal:
            raise RuntimeError(f"{len(unequal)} pulled states differ from the phone's, e.g. {unequal[0]}")


# -- the raw floor ----------------------------------------------------------------------------


def raw_rows(phone: Phone) -> list[tuple]:
    """(id, state JSON, seq, deleted, created_at, updated_at, team, name, title, phone, email) per record."""
    at = dt.datetime.now(dt.timezone.utc)
    rows = []
    for seq, record_id in enumerate(phone.order, start=1):
        state = phone.states[record_id]
        shown = sync.visible(state)
        rows.append(
            (
                record_id,
                msgspec.json.encode(state).decode(),
                seq,
                False,
                at,
                at,
                shown.get("team"),
                shown.get("name", ""),
                shown.get("title", ""),
                (shown.get("phones") or [""])[0],
                (shown.get("emails") or [""])[0],
            )
        )
    return rows


#: The floor's table: the same columns, constraints and indexes as the server's contact table.
SAME = "bench_same"


@dataclass
class Floor:
    """The raw driver's phases: on a table of contact's own schema, and on the bare scratch table."""

    write: Phase
    read: Phase
    bare_write: Phase
    bare_read: Phase
    indexes: int  # of the same-schema table, its primary key's included
    foreign_keys: int
    #: The same write into the same-schema table in transactions of the push's batch size.
    batched_write: Phase


def _held_and_batched(rows: list[tuple], write_n: int) -> tuple[list[tuple], list[tuple]]:
    """The batched write's rows: `write_n` of them, written after as many others, as the median
    of the push's rounds writes its records after one round's (all the rows there are, at most)."""
    held = rows[write_n : 2 * write_n]
    return held, rows[:write_n]


async def _timed_sqlite(conn: Any, reader: Any, table: str, columns: str, rows: list[tuple], write_n: int, label: str) -> tuple[Phase, Phase]:
    """Insert rows[:write_n] in one timed transaction, the rest untimed, on `conn`; then one
    timed SELECT on `reader`, as the server writes and reads on connections of their own."""
    insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in rows[0])})"
    start = METER.snap()
    await conn.execute("BEGIN IMMEDIATE")
    await conn.executemany(insert, rows[:write_n])
    await conn.execute("COMMIT")
    write = Phase.measured(f"{label} write", write_n, start, METER.snap(), raw=True, note="aiosqlite executemany, one transaction")
    if len(rows) > write_n:
        await conn.execute("BEGIN IMMEDIATE")
        await conn.executemany(insert, rows[write_n:])
        await conn.execute("COMMIT")
    # The server copies its WAL into the database file after each commit, in the background
    # (server/db.py): its readers find it done. The floor's reader does too, untimed.
    await conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
    start = METER.snap()
    async with reader.execute(f"SELECT id, seq, state FROM {table} ORDER BY seq") as cursor:
        got = await cursor.fetchall()
    read = Phase.measured(f"{label} read", len(got), start, METER.snap(), raw=True, note="aiosqlite, one SELECT ... ORDER BY seq")
    return write, read


async def _batched_sqlite(path: Path, conn: Any, table: str, columns: str, held: list[tuple], rows: list[tuple], batch: int) -> Phase:
    """Into the empty `table` holding `held` (written untimed), `rows` in transactions of
    `batch` rows, each committed, as the server commits each push; and each commit followed by
    the server's own background checkpoint (server/db.py, PersistentSQLiteEngine.committed),
    which needs the server's engine: it runs beside this floor's connection, as beside the
    server's writer."""
    from server.db import PersistentSQLiteEngine

    engine = PersistentSQLiteEngine(path=str(path))
    await engine.loop_connections()
    insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in rows[0])})"
    try:
        await conn.execute("BEGIN IMMEDIATE")
        await conn.executemany(insert, held)
        await conn.execute("COMMIT")
        await conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        start = METER.snap()
        for first in range(0, len(rows), batch):
            await conn.execute("BEGIN IMMEDIATE")
            await conn.executemany(insert, rows[first : first + batch])
            await conn.execute("COMMIT")
            engine.committed()
        return Phase.measured("batched write", len(rows), start, METER.snap(), raw=True, note=f"aiosqlite executemany, a transaction per {batch} rows")
    finally:
        await engine.close()  # after its last checkpoint


async def raw_sqlite(path: Path, rows: list[tuple], write_n: int, batch: int) -> Floor:
    import re

    import aiosqlite

    from server.db import CONNECTION_PRAGMAS, WRITER_PRAGMAS

    conn = await aiosqlite.connect(str(path), isolation_level=None)
    reader = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        # The server's pragmas (server/db.py), foreign keys included: its writer's on the
        # connection that writes (its page cache among them), its readers' on the one that reads.
        for pragma in (*CONNECTION_PRAGMAS, *WRITER_PRAGMAS):
            await conn.execute(pragma)
        for pragma in CONNECTION_PRAGMAS:
            await reader.execute(pragma)
        # The same rows: the server's own contact rows, every column as stored.
        async with conn.execute("SELECT * FROM contact ORDER BY seq") as cursor:
            names = ", ".join(f'"{d[0]}"' for d in cursor.description)
            same_rows = list(await cursor.fetchall())
        # The same schema: contact's CREATE TABLE and CREATE INDEX statements, renamed.
        async with conn.execute("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'contact' AND sql IS NOT NULL ORDER BY type = 'index'") as cursor:
            ddl = list(await cursor.fetchall())
        await conn.execute(f"DROP TABLE IF EXISTS {SAME}")
        for kind, sql in ddl:
            if kind == "table":
                sql = re.sub(r'^CREATE TABLE "?contact"?', f"CREATE TABLE {SAME}", sql)
            elif kind == "index":
                sql = re.sub(r'^CREATE (UNIQUE )?INDEX "?(\w+)"? ON "?contact"?', rf"CREATE \1INDEX {SAME}_\2 ON {SAME}", sql)
            else:
                raise RuntimeError(f"contact has a {kind} the floor does not copy: {sql}")
            await conn.execute(sql)
        async with conn.execute(f"SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = '{SAME}'") as cursor:
            indexes = (await cursor.fetchone())[0]
        async with conn.execute(f"SELECT count(*) FROM pragma_foreign_key_list('{SAME}')") as cursor:
            foreign_keys = (await cursor.fetchone())[0]
        write, read = await _timed_sqlite(conn, reader, SAME, names, same_rows, write_n, "raw")
        await conn.execute(f"DELETE FROM {SAME}")
        batched = await _batched_sqlite(path, conn, SAME, names, *_held_and_batched(same_rows, write_n), batch)
        await conn.execute(f"DROP TABLE {SAME}")

        await conn.execute("DROP TABLE IF EXISTS bench_raw")
        await conn.execute(
            "CREATE TABLE bench_raw (id UUID PRIMARY KEY NOT NULL, state TEXT NOT NULL, seq INTEGER NOT NULL,"
            " deleted BOOLEAN NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,"
            " team INTEGER, name VARCHAR(200) NOT NULL, title VARCHAR(200) NOT NULL, phone VARCHAR(40) NOT NULL,"
            " email VARCHAR(320) NOT NULL)"
        )
        await conn.execute("CREATE INDEX bench_raw_seq ON bench_raw (seq)")
        # Timestamps as ISO text, as the server's driver stores them on SQLite.
        text_rows = [(*r[:4], r[4].isoformat(), r[5].isoformat(), *r[6:]) for r in rows]
        columns = "id, state, seq, deleted, created_at, updated_at, team, name, title, phone, email"
        bare_write, bare_read = await _timed_sqlite(conn, reader, "bench_raw", columns, text_rows, write_n, "bare")
        await conn.execute("DROP TABLE bench_raw")
        return Floor(write, read, bare_write, bare_read, indexes, foreign_keys, batched)
    finally:
        await reader.close()
        await conn.close()


async def _timed_postgres(conn: Any, table: str, columns: list[str], rows: list[tuple], write_n: int, label: str) -> tuple[Phase, Phase]:
    """Insert rows[:write_n] in one timed transaction, the rest untimed, then one timed fetch."""
    names = ", ".join(f'"{c}"' for c in columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})"
    start = METER.snap()
    async with conn.transaction():
        await conn.executemany(insert, rows[:write_n])
    write = Phase.measured(f"{label} write", write_n, start, METER.snap(), raw=True, note="asyncpg executemany, one transaction")
    if len(rows) > write_n:
        async with conn.transaction():
            await conn.executemany(insert, rows[write_n:])
    await conn.execute(f"ANALYZE {table}")
    start = METER.snap()
    got = await conn.fetch(f"SELECT id, seq, state FROM {table} ORDER BY seq")
    read = Phase.measured(f"{label} read", len(got), start, METER.snap(), raw=True, note="asyncpg, one fetch ... ORDER BY seq")
    return write, read


async def _analyze(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _batched_postgres(conn: Any, table: str, columns: list[str], held: list[tuple], rows: list[tuple], batch: int) -> Phase:
    """Into the empty `table` holding `held` (written untimed), `rows` in transactions of
    `batch` rows, each committed, as the server commits each push."""
    names = ", ".join(f'"{c}"' for c in columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})"
    async with conn.transaction():
        await conn.executemany(insert, held)
    await conn.execute(f"ANALYZE {table}")
    start = METER.snap()
    for first in range(0, len(rows), batch):
        async with conn.transaction():
            await conn.executemany(insert, rows[first : first + batch])
    return Phase.measured("batched write", len(rows), start, METER.snap(), raw=True, note=f"asyncpg executemany, a transaction per {batch} rows")


async def raw_postgres(dsn: str, rows: list[tuple], write_n: int, batch: int) -> Floor:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        # The same rows: the server's own contact rows, every column as stored.
        same_rows = await conn.fetch("SELECT * FROM contact ORDER BY seq")
        columns = list(same_rows[0].keys())
        same_rows = [tuple(r) for r in same_rows]
        # The same schema: LIKE ... INCLUDING ALL copies columns, defaults, constraints and
        # indexes; foreign keys it leaves out, so they are added from contact's own.
        await conn.execute(f"DROP TABLE IF EXISTS {SAME}")
        await conn.execute(f"CREATE TABLE {SAME} (LIKE contact INCLUDING ALL)")
        fks = await conn.fetch("SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'contact'::regclass AND contype = 'f'")
        for fk in fks:
            await conn.execute(f"ALTER TABLE {SAME} ADD {fk['def']}")
        indexes = await conn.fetchval(f"SELECT count(*) FROM pg_indexes WHERE tablename = '{SAME}'")
        expected = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE tablename = 'contact'")
        if indexes != expected:
            raise RuntimeError(f"the floor's table has {indexes} indexes, contact {expected}")
        write, read = await _timed_postgres(conn, SAME, columns, same_rows, write_n, "raw")
        await conn.execute(f"TRUNCATE {SAME}")
        batched = await _batched_postgres(conn, SAME, columns, *_held_and_batched(same_rows, write_n), batch)
        await conn.execute(f"DROP TABLE {SAME}")

        await conn.execute("DROP TABLE IF EXISTS bench_raw")
        await conn.execute(
            "CREATE TABLE bench_raw (id UUID PRIMARY KEY, state TEXT NOT NULL, seq BIGINT NOT NULL,"
            " deleted BOOLEAN NOT NULL, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL,"
            " team INTEGER, name VARCHAR(200) NOT NULL, title VARCHAR(200) NOT NULL, phone VARCHAR(40) NOT NULL,"
            " email VARCHAR(320) NOT NULL)"
        )
        await conn.execute("CREATE INDEX bench_raw_seq ON bench_raw (seq)")
        pg_rows = [(uuid.UUID(r[0]), *r[1:]) for r in rows]
        bare_columns = ["id", "state", "seq", "deleted", "created_at", "updated_at", "team", "name", "title", "phone", "email"]
        bare_write, bare_read = await _timed_postgres(conn, "bench_raw", bare_columns, pg_rows, write_n, "bare")
        await conn.execute("DROP TABLE bench_raw")
        return Floor(write, read, bare_write, bare_read, indexes, len(fks), batched)
    finally:
        await conn.close()


# -- one database -------------------------------------------------------------------------------


@dataclass
class Outcome:
    database: str
    phases: dict[str, Phase]
    load: tuple[float, float]  # 1-minute load average at the start and the end
    floor: str = ""


def bench_database(name: str, args: argparse.Namespace, stack: list) -> Outcome:
    print(f"\n== {name} ==")
    METER.server_pid = METER.postmaster_pid = None
    load_before = os.getloadavg()[0]
    data_dir = Path(tempfile.mkdtemp(prefix=f"fieldbook-syncbench-{name}-"))
    stack.append(lambda: shutil.rmtree(data_dir, ignore_errors=True))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    env["FIELDBOOK_DATA_DIR"] = str(data_dir)
    dsn: str | None = None
    if name == "postgres":
        from tests.pgserver import PgServer

        pg = PgServer()
        stack.append(pg.stop)
        pg.start()
        dsn = pg.create_database("fieldbook_sync_bench")
        env["DATABASE_URL"] = dsn
        assert pg.data_dir is not None
        METER.postmaster_pid = int((Path(pg.data_dir) / "postmaster.pid").read_text().split()[0])
        print(f"database: throwaway PostgreSQL {dsn}")
    else:
        print(f"database: SQLite {data_dir / 'fieldbook.db'}")
    run_cli(env, "migrate")
    run_cli(env, "user", "add", EMAIL, "--role", "rep", "--team", TEAM, stdin=PASSWORD + "\n")

    server = Server(env, data_dir / "server.log")
    stack.append(server.stop)
    server.start()
    METER.server_pid = server.pid
    print(f"server: pid {server.pid}, port {server.port}")
    client = Client(server.port)
    stack.append(client.close)
    client.json("POST", "/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    if SESSION_COOKIE not in client.cookies or CSRF_COOKIE not in client.cookies:
        raise RuntimeError(f"sign-in set cookies {sorted(client.cookies)}, not the session and CSRF ones")
    me = client.json("GET", "/api/v1/auth/me")
    replica = client.json("POST", "/api/v1/sync/devices", {"name": "sync bench"}, expect=201)["replica"]
    phone = Phone(client, replica, me["team"], random.Random(args.seed))
    spy_dir = Path(args.py_spy).resolve() if args.py_spy else None
    if spy_dir:
        spy_dir.mkdir(parents=True, exist_ok=True)

    # Warm up the server (imports, prepared paths, caches), untimed and not counted.
    warm = phone.creates(min(args.batch, 50))
    phone.send(phone.bodies(warm, args.batch), warm, "warm-up")
    base = len(phone.order)
    phases: dict[str, Phase] = {}

    rounds: dict[str, list[Phase]] = {name: [] for name in ("push creates", "index creates", "push edits", "index edits", "pull")}
    created_rounds: list[list[sync.Record]] = []
    for round_ in range(args.rounds):
        created = phone.creates(args.push)
        created_rounds.append(created)
        bodies = phone.bodies(created, args.batch)
        with Sampler(spy_dir if round_ == 0 else None, server.pid, f"{name}-push-creates"):
            rounds["push creates"].append(phone.send(bodies, created, "push creates"))
        rounds["index creates"].append(phone.index(args.push, "index creates"))
        print(f"  push creates: {rounds['push creates'][-1].rate:,.0f} rec/s, then search, indexing them: {rounds['index creates'][-1].rate:,.0f} rec/s")
    for round_, created in enumerate(created_rounds):
        edited = phone.edits([r.id for r in created])
        bodies = phone.bodies(edited, args.batch)
        with Sampler(spy_dir if round_ == 0 else None, server.pid, f"{name}-push-edits"):
            rounds["push edits"].append(phone.send(bodies, edited, "push edits"))
        rounds["index edits"].append(phone.index(args.push, "index edits"))
        print(f"  push edits:   {rounds['push edits'][-1].rate:,.0f} rec/s, then search, indexing them: {rounds['index edits'][-1].rate:,.0f} rec/s")

    more = max(0, args.pull - len(phone.order))
    if more:
        t0 = time.perf_counter()
        for start in range(0, more, 5000):
            chunk = phone.creates(min(5000, more - start))
            phone.send(phone.bodies(chunk, args.batch), chunk, "fill")
        print(f"  (pushed {more:,} more creates for the pull in {time.perf_counter() - t0:.1f} s, untimed)")
        # Indexed now, as the push phases' records were: else the server's background indexer
        # takes them in during the timed pull, and the pull pays for the fill's indexing.
        phone.index(more, "fill index")
    if dsn is not None:
        # The floor analyzes its table before reading it; the server's tables get the same, as
        # autovacuum would give them about a minute after such a load (and its work then stays
        # out of the timed pull). Without statistics PostgreSQL reads every remaining change of
        # a table for each page, and sorts them.
        asyncio.run(_analyze(dsn))
        print("  (VACUUM ANALYZE before the pull, untimed: the floor's table is analyzed too)")

    for round_ in range(args.rounds):
        with Sampler(spy_dir if round_ == 0 else None, server.pid, f"{name}-pull"):
            pulled, pages = phone.pull_all(args.page)
        rounds["pull"].append(pulled)
        print(f"  pull:         {pulled.rate:,.0f} rec/s ({pulled.note})")
    for phase_name, measured in rounds.items():
        phases[phase_name] = median_phase(measured)
    phone.check_pulled(pages)
    print(f"  checked: all {len(phone.order):,} pulled states equal the phone's ({base} were warm-up records)")
    del pages

    rows = raw_rows(phone)
    phone.states.clear()
    # The phone's tens of thousands of states would make this process's garbage collector
    # slow the raw driver down (about twice, for the read); the server has no such heap.
    gc.collect()
    gc.freeze()
    try:
        if name == "postgres":
            assert dsn is not None
            floors = [asyncio.run(raw_postgres(dsn, rows, args.push, args.batch)) for _ in range(args.rounds)]
        else:
            floors = [asyncio.run(raw_sqlite(data_dir / "fieldbook.db", rows, args.push, args.batch)) for _ in range(args.rounds)]
        floor = Floor(
            median_phase([f.write for f in floors]),
            median_phase([f.read for f in floors]),
            median_phase([f.bare_write for f in floors]),
            median_phase([f.bare_read for f in floors]),
            floors[0].indexes,
            floors[0].foreign_keys,
            median_phase([f.batched_write for f in floors]),
        )
    finally:
        gc.unfreeze()
    phases["raw write"], phases["raw read"] = floor.write, floor.read
    phases["bare write"], phases["bare read"] = floor.bare_write, floor.bare_read
    phases["batched write"] = floor.batched_write
    floor_note = (
        f"floor: same schema as contact, {floor.indexes} indexes (primary key included), {floor.foreign_keys} foreign key(s),"
        f" the server's own contact rows; no search_entry/FTS writes (the server's are timed apart: index creates, index edits)"
    )
    print(f"  {floor_note}")
    print(f"  raw write:    {floor.write.rate:,.0f} rec/s ({floor.write.note})")
    print(f"  raw read:     {floor.read.rate:,.0f} rec/s ({floor.read.note})")
    print(f"  batched write: {floor.batched_write.rate:,.0f} rec/s ({floor.batched_write.note})")
    print(f"  bare floor (primary key and seq index only, rows built by the bench):"
          f" write {floor.bare_write.rate:,.0f} rec/s, read {floor.bare_read.rate:,.0f} rec/s")
    return Outcome(name, phases, (load_before, os.getloadavg()[0]), floor_note)


def _ms(value: float) -> str:
    return "" if value != value else f"{value:.3f}"  # blank for NaN


def report(outcome: Outcome) -> None:
    p = outcome.phases
    cpus = os.cpu_count() or 1
    print(f"\n{outcome.database}: records/s through the server against the raw driver")
    print(f"  {'phase':<13}{'records':>8}{'seconds':>9}{'rec/s':>10}{'CPU ms/rec':>12}{'loop ms/rec':>13}{'db CPU ms/rec':>15}{'rec/CPU-s':>11}")
    for phase in p.values():
        db_ms = phase.per_record_ms(phase.db_cpu) if outcome.database == "postgres" else float("nan")
        print(
            f"  {phase.name:<13}{phase.records:>8,}{phase.seconds:>9.2f}{phase.rate:>10,.0f}"
            f"{_ms(phase.per_record_ms(phase.cpu)):>12}{_ms(phase.per_record_ms(phase.loop_cpu)):>13}{_ms(db_ms):>15}{phase.cpu_rate:>11,.0f}"
        )
    print(f"  raw = {outcome.floor}")
    print("  bare = the old floor: a scratch table with a primary key and a seq index only, rows built by the bench")
    print(f"  {'ratio':<27}{'wall':>7}{'CPU':>8}   goal")
    for label, num, den, goal in (
        ("push creates / raw write", "push creates", "raw write", PUSH_GOAL),
        ("push edits / raw write", "push edits", "raw write", PUSH_GOAL),
        ("pull / raw read", "pull", "raw read", PULL_GOAL),
        ("push creates / bare write", "push creates", "bare write", PUSH_GOAL),
        ("push edits / bare write", "push edits", "bare write", PUSH_GOAL),
        ("pull / bare read", "pull", "bare read", PULL_GOAL),
    ):
        wall = p[num].rate / p[den].rate
        cpu = p[num].cpu_rate / p[den].cpu_rate
        verdict = "meets" if wall >= goal else "MISSES"
        print(f"  {label:<27}{wall:>7.1%}{cpu:>8.1%}   >= {goal:.0%}: {verdict}")
    for what in ("creates", "edits"):
        # The push and the search indexing it sets off, together, against the raw write.
        push, index, floor = p[f"push {what}"], p[f"index {what}"], p["raw write"]
        wall = push.records / (push.seconds + index.seconds) / floor.rate
        cpu = push.records / (push.cpu + push.db_cpu + index.cpu + index.db_cpu) / floor.cpu_rate
        print(f"  {'push+index ' + what + ' / raw':<27}{wall:>7.1%}{cpu:>8.1%}   (no goal: the indexing comes after the push)")
    # How much of the push's gap is the database's own price for its transaction shape: the
    # floor's rows committed batch by batch, against the floor, and the push against that.
    batched = p["batched write"]
    print(
        f"  {'batched write / raw write':<27}{batched.rate / p['raw write'].rate:>7.1%}"
        f"{batched.cpu_rate / p['raw write'].cpu_rate:>8.1%}   (no goal: the most a push in these batches could reach)"
    )
    for what in ("creates", "edits"):
        push = p[f"push {what}"]
        print(f"  {'push ' + what + ' / batched':<27}{push.rate / batched.rate:>7.1%}{push.cpu_rate / batched.cpu_rate:>8.1%}   (no goal)")
    # The most the push could reach if the database cost nothing: its event loop's CPU alone (the
    # HTTP layer, decoding, merging, checking and building rows; not the SQL, which on SQLite
    # runs in the driver's threads) per record, against the floor.
    for what in ("creates", "edits"):
        push = p[f"push {what}"]
        if push.loop_cpu > 0:
            bound = push.records / push.loop_cpu / p["raw write"].rate
            print(f"  {'push ' + what + ', loop alone':<27}{bound:>7.1%}{'':>8}   (no goal: the push's bound were its SQL free)")
    print(
        "  (CPU ms/rec: the server process, or this process for the raw rows; loop ms/rec: the server's"
        " event-loop thread alone; db CPU: PostgreSQL's processes; rec/CPU-s counts the first and the"
        " last, and is steadier than rec/s on a busy machine)"
    )
    if max(outcome.load) > cpus:
        print(
            f"  warning: load average {outcome.load[0]:.1f} -> {outcome.load[1]:.1f} on {cpus} CPUs:"
            " other work shared the machine, so wall-clock figures are noisy"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--push", type=int, default=10_000, help="records created, then edited (default 10,000)")
    parser.add_argument("--pull", type=int, default=50_000, help="records on the server to pull (default 50,000)")
    parser.add_argument("--batch", type=int, default=500, help="records per push (default 500)")
    parser.add_argument("--page", type=int, default=1000, help="pull page size asked for (server cap 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="times each phase and the floor run; the median counts (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--py-spy", metavar="DIR", help="sample the server with py-spy during each timed phase")
    args = parser.parse_args()
    if args.push < 1 or args.pull < 1 or args.rounds < 1 or not 1 <= args.batch <= 1000:
        parser.error("--push, --pull and --rounds must be positive, --batch 1..1000")
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"sync bench at {revision or 'an unknown revision'}: push {args.push:,} in batches of {args.batch},"
          f" pull {args.pull:,} in pages of {args.page}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    outcomes: list[Outcome] = []
    for name in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        stack: list = []
        try:
            outcomes.append(bench_database(name, args, stack))
        finally:
            for undo in reversed(stack):
                try:
                    undo()
                except Exception as error:  # keep cleaning up
                    print(f"cleanup: {error}", file=sys.stderr)
    for outcome in outcomes:
        report(outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
