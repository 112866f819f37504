"""Requests/s of the signed-in contact list against the bare health check, on one server.

    .venv/bin/python bench/api_bench.py [--connections 16] [--seconds 5] [--warmup 1] [--rounds 2]
        [--pick best|median] [--only healthz|list] [--seed demo|api] [--database-url postgresql://...]

What it does: a throwaway data directory, `fieldbook migrate`, seed data (`fieldbook demo`, or
when that fails or with `--seed api`, a rep plus 300 contacts made through the API), then
`fieldbook serve` (one uvicorn worker) as a subprocess on a free port. It signs in as
rep@fieldbook.test and drives two endpoints in turn, healthz then list, `--rounds` times:

    GET /healthz                     no session, no database: the framework's floor
    GET /api/v1/contacts?limit=50    session lookup, list query, count query, 50 answers

and reports, per endpoint, the best (or `--pick median`) round by requests/s, and the ratio
list / healthz (the goal is >= 25 %). The server is stopped and the directory removed at the end.

The load comes from a small asyncio HTTP/1.1 keep-alive client in this one process (N
connections, each sending its next request as soon as the last answer is in; every answer must
be a 200), kept cheap so that on a small machine the figures measure the server rather than the
client; its own CPU use is printed so you can tell. Each run has a warm-up whose requests are
not counted. The server process's CPU time per request (from /proc, Linux) is printed too: when
other processes share the CPUs it is steadier than requests/s. With PostgreSQL it leaves out
the database server's own CPU.

With `--database-url` the server runs against that database instead of a fresh SQLite file;
the demo data is loaded into it (idempotently), so give it a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST_PATH = "/api/v1/contacts?limit=50"
HEALTH_PATH = "/healthz"
SESSION_COOKIE = "fieldbook_session"
CSRF_COOKIE = "csrftoken"
EMAIL, PASSWORD = "rep@fieldbook.test", "fieldbook"
FALLBACK_CONTACTS = 300
GOAL = 0.25
#: Seconds to wait after a run for the answers still in flight.
STALL_SECONDS = 30


# -- a minimal HTTP/1.1 client ------------------------------------------------------------


class HTTPError(Exception):
    pass


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


def build_request(method: str, path: str, host: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One answer: status line, headers, and a Content-Length or chunked body."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    if not head.startswith(("HTTP/1.1 ", "HTTP/1.0 ")):
        raise HTTPError(f"not an HTTP answer: {head[:40]!r}")
    headers = []
    for line in head.split("\r\n")[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers.append((key.strip().lower(), value.strip()))
    answer = Answer(int(head[9:12]), headers, b"")
    if length := answer.header_values("content-length"):
        answer.body = await reader.readexactly(int(length[0]))
    elif "chunked" in ",".join(answer.header_values("transfer-encoding")).lower():
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # no trailers: the final empty line
        answer.body = b"".join(parts)
    elif not (answer.status in (204, 304) or 100 <= answer.status < 200):
        raise HTTPError("answer without Content-Length or chunked encoding")
    return answer


async def request(host: str, port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Answer:
    """One request on a connection of its own (setup only; the load uses kept-alive connections)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(build_request(method, path, f"{host}:{port}", {**(headers or {}), "Connection": "close"}, body))
        return await read_answer(reader)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


# -- the load generator -------------------------------------------------------------------


@dataclass
class RunResult:
    endpoint: str
    seconds: float
    latencies: list[float]  # seconds, of the requests completed inside the measured window
    errors: int
    client_cpu: float  # seconds of this process's CPU during the measured window
    server_cpu: float | None  # seconds of the server process's CPU during the measured window
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000

    @property
    def server_ms_per_request(self) -> float | None:
        if self.server_cpu is None or not self.latencies:
            return None
        return self.server_cpu / len(self.latencies) * 1000


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process and all its threads (Linux), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class LoadConnection(asyncio.Protocol):
    """One kept-alive connection sending `payload` again as soon as an answer is complete.

    A protocol rather than a StreamReader: parsing straight from data_received costs about a
    quarter less client CPU per request, which the server gets instead on a small machine.
    """

    def __init__(self, run: LoadRun) -> None:
        self.run = run
        self.buffer = b""
        self.sent = 0.0
        self.transport: asyncio.Transport | None = None
        self.finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.run.live.add(self)
        self.send()

    def send(self) -> None:
        self.sent = time.perf_counter()
        self.transport.write(self.run.payload)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            start = head.find(b"\r\ncontent-length:")
            if start < 0 or not head.startswith(b"http/1.1 "):
                self.fail(f"unsupported answer: {bytes(buffer[:60])!r}")
                return
            stop = head.find(b"\r\n", start + 2)
            try:
                length = int(head[start + 17 : stop if stop >= 0 else len(head)])
                status = int(head[9:12])
            except ValueError:
                self.fail(f"malformed answer: {bytes(buffer[:60])!r}")
                return
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            self.answered(status, b"\r\nconnection: close" in head)
            if self.finished:
                return
        self.buffer = buffer

    def answered(self, status: int, closing: bool) -> None:
        done = time.perf_counter()
        self.run.record(status, done - self.sent, done)
        if done >= self.run.t_end:
            self.finish()
        elif closing:
            self.run.spawn()  # counted as open before this one is done, so the run cannot end early
            self.finish()
        else:
            self.send()

    def fail(self, why: str) -> None:
        self.run.record(-1, 0.0, time.perf_counter(), why)
        if time.perf_counter() < self.run.t_end:
            self.run.spawn()
        self.finish()

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.transport.close()  # type: ignore[union-attr]
            self.run.live.discard(self)
            self.run.connection_done()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished:
            self.fail(f"connection lost: {exc}")


class LoadRun:
    """Shared counters of the connections of one run."""

    def __init__(self, host: str, port: int, payload: bytes, t_start: float, t_end: float) -> None:
        self.host, self.port, self.payload = host, port, payload
        self.t_start, self.t_end = t_start, t_end
        self.latencies: list[float] = []
        self.errors = 0
        self.samples: list[str] = []
        self.open = 0
        self.all_done = asyncio.get_running_loop().create_future()
        self.pending: set[asyncio.Task] = set()
        self.live: set[LoadConnection] = set()

    def record(self, status: int, latency: float, done: float, why: str | None = None) -> None:
        if not self.t_start <= done <= self.t_end:
            return
        if status == 200:
            self.latencies.append(latency)
            return
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(why or f"HTTP {status}")

    def spawn(self) -> None:
        """Open one more connection; it counts as open from now until it is done."""
        self.open += 1
        task = asyncio.get_running_loop().create_task(self._connect())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _connect(self) -> None:
        try:
            await asyncio.get_running_loop().create_connection(lambda: LoadConnection(self), self.host, self.port)
        except OSError as error:
            self.record(-1, 0.0, time.perf_counter(), f"connect: {error}")
            if time.perf_counter() < self.t_end:
                await asyncio.sleep(0.1)
                self.spawn()
            self.connection_done()

    def connection_done(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.all_done.done():
            self.all_done.set_result(None)


async def load(
    host: str, port: int, name: str, payload: bytes, connections: int, warmup: float, seconds: float, server_pid: int
) -> RunResult:
    """`connections` keep-alive connections sending `payload` back to back; warm-up not counted."""
    clock = time.perf_counter
    t_start = clock() + warmup
    run = LoadRun(host, port, payload, t_start, t_start + seconds)
    for _ in range(connections):
        run.spawn()
    # Snapshot both processes' CPU clocks at the edges of the measured window.
    await asyncio.sleep(max(0.0, t_start - clock()))
    client0, server0 = time.process_time(), process_cpu_seconds(server_pid)
    await asyncio.sleep(max(0.0, run.t_end - clock()))
    client1, server1 = time.process_time(), process_cpu_seconds(server_pid)
    try:
        await asyncio.wait_for(asyncio.shield(run.all_done), timeout=STALL_SECONDS)
    except asyncio.TimeoutError:
        # Answers still missing long after the run: count each as an error and hang up.
        for connection in list(run.live):
            run.errors += 1
            if len(run.samples) < 5:
                run.samples.append(f"no answer {STALL_SECONDS} s after the run ended")
            connection.finish()
    return RunResult(
        endpoint=name,
        seconds=seconds,
        latencies=run.latencies,
        errors=run.errors,
        client_cpu=client1 - client0,
        server_cpu=None if server0 is None or server1 is None else server1 - server0,
        error_samples=run.samples,
    )


# -- the server and its data ----------------------------------------------------------------


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


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*fieldbook_command(), *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=600
    )


def seed_with_cli(env: dict[str, str], use_demo: bool) -> bool:
    """Demo data through `fieldbook demo`; False (with a rep added) when that fails or is not wanted."""
    if use_demo:
        result = run_cli(env, "demo")
        if result.returncode == 0:
            print("seed: fieldbook demo")
            return True
        reason = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        print(f"seed: `fieldbook demo` failed ({reason}); adding {EMAIL} and {FALLBACK_CONTACTS} contacts instead")
    else:
        print(f"seed: adding {EMAIL} and {FALLBACK_CONTACTS} contacts through the API")
    added = run_cli(env, "user", "add", EMAIL, "--role", "rep", "--team", "North", stdin=PASSWORD + "\n")
    if added.returncode != 0 and "already exists" not in added.stderr:
        raise RuntimeError(f"fieldbook user add failed:\n{added.stdout}{added.stderr}")
    return False


async def wait_for_health(host: str, port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before answering")
        try:
            if (await request(host, port, "GET", HEALTH_PATH)).status == 200:
                return
        except (OSError, asyncio.IncompleteReadError, HTTPError):
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no answer from /healthz within {timeout:.0f} s")


def cookies_of(answer: Answer) -> dict[str, str]:
    out = {}
    for value in answer.header_values("set-cookie"):
        name, _, rest = value.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


async def sign_in(host: str, port: int) -> dict[str, str]:
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    answer = await request(host, port, "POST", "/api/v1/auth/login", {"Content-Type": "application/json"}, body)
    if answer.status != 200:
        raise RuntimeError(f"sign-in answered {answer.status}: {answer.body[:200]!r}")
    cookies = cookies_of(answer)
    if SESSION_COOKIE not in cookies:
        raise RuntimeError(f"sign-in set no {SESSION_COOKIE} cookie (got {sorted(cookies)})")
    return cookies


async def add_contacts(host: str, port: int, cookies: dict[str, str], count: int) -> None:
    headers = {
        "Content-Type": "application/json",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "X-CSRFToken": cookies.get(CSRF_COOKIE, ""),
    }
    for i in range(count):
        contact = {
            "name": f"Bench Contact {i:04d}",
            "title": "Buyer",
            "phones": [f"+44 161 496 0{i % 1000:03d}"],
            "emails": [f"bench{i}@bench.example"],
            "tags": ["bench"],
            "notes": "Made by bench/api_bench.py.",
        }
        answer = await request(host, port, "POST", "/api/v1/contacts", headers, json.dumps(contact).encode())
        if answer.status not in (200, 201):
            raise RuntimeError(f"creating a contact answered {answer.status}: {answer.body[:300]!r}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


# -- the run ----------------------------------------------------------------------------------


def pick(results: list[RunResult], how: str) -> RunResult:
    ordered = sorted(results, key=lambda r: r.rps)
    return ordered[-1] if how == "best" else ordered[(len(ordered) - 1) // 2]


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_row(label: str, r: RunResult) -> str:
    server_pct = "-" if r.server_cpu is None else f"{r.server_cpu / r.seconds * 100:.0f} %"
    return (
        f"  {label:<34} {r.rps:>10.1f} {r.mean_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>6}"
        f"   {fmt_ms(r.server_ms_per_request):>17} {server_pct:>10} {r.client_cpu / r.seconds * 100:>8.0f} %"
    )


TABLE_HEADER = (
    f"  {'endpoint':<34} {'requests/s':>10} {'mean ms':>8} {'p99 ms':>8} {'errors':>6}"
    f"   {'server CPU ms/req':>17} {'server CPU':>10} {'client CPU':>10}"
)


async def bench(args: argparse.Namespace, env: dict[str, str], server: subprocess.Popen, host: str, port: int, seeded: bool) -> int:
    await wait_for_health(host, port, server)
    cookies = await sign_in(host, port)
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items() if k in (SESSION_COOKIE, CSRF_COOKIE))

    list_request = build_request("GET", LIST_PATH, f"{host}:{port}", {"Cookie": cookie_header})
    health_request = build_request("GET", HEALTH_PATH, f"{host}:{port}")

    async def fetch_list() -> Answer:
        return await request(host, port, "GET", LIST_PATH, {"Cookie": cookie_header})

    sample = await fetch_list()
    if sample.status == 200 and (not seeded or len(json.loads(sample.body)["items"]) < 50):
        if seeded:
            print(f"seed: the list has fewer than 50 rows; adding {FALLBACK_CONTACTS} contacts through the API")
        await add_contacts(host, port, cookies, FALLBACK_CONTACTS)
        sample = await fetch_list()
    if sample.status != 200:
        raise RuntimeError(f"GET {LIST_PATH} answered {sample.status}: {sample.body[:300]!r}")
    page = json.loads(sample.body)
    items = len(page["items"])
    print(
        f"list answer: {len(sample.body)} bytes of JSON, {items} items"
        f" ({'ok' if items == 50 else 'EXPECTED 50'}), total {page['total']} contacts visible to {EMAIL}"
    )
    health = await request(host, port, "GET", HEALTH_PATH)
    print(f"healthz answer: {len(health.body)} bytes")
    print(f"server: pid {server.pid}, http://{host}:{port}, log {args.server_log}")
    print()

    plan = {"healthz": (f"GET {HEALTH_PATH}", health_request), "list": (f"GET {LIST_PATH}", list_request)}
    endpoints = [e for e in ("healthz", "list") if args.only in (None, e)]
    results: dict[str, list[RunResult]] = {e: [] for e in endpoints}
    print(f"rounds ({args.connections} connections, {args.warmup:g} s warm-up + {args.seconds:g} s measured each):")
    print(TABLE_HEADER)
    for round_no in range(1, args.rounds + 1):
        for endpoint in endpoints:
            label, payload = plan[endpoint]
            result = await load(host, port, endpoint, payload, args.connections, args.warmup, args.seconds, server.pid)
            results[endpoint].append(result)
            print(format_row(f"{round_no}: {label}", result), flush=True)
            for sample_error in result.error_samples:
                print(f"    error sample: {sample_error}")
    print()

    chosen = {e: pick(rs, args.pick) for e, rs in results.items()}
    what = "best" if args.pick == "best" else "median"
    print(f"result ({what} of {args.rounds} round{'s' if args.rounds != 1 else ''} by requests/s, per endpoint):")
    print(TABLE_HEADER)
    for endpoint in endpoints:
        print(format_row(plan[endpoint][0], chosen[endpoint]))
    print()
    total_errors = sum(r.errors for rs in results.values() for r in rs)
    if len(chosen) == 2:
        ratio = chosen["list"].rps / chosen["healthz"].rps if chosen["healthz"].rps else 0.0
        verdict = "meets" if ratio >= GOAL else "below"
        print(f"list / healthz = {ratio * 100:.1f} %   ({verdict} the goal of >= {GOAL * 100:.0f} %)")
        cpu_list, cpu_health = chosen["list"].server_ms_per_request, chosen["healthz"].server_ms_per_request
        if cpu_list and cpu_health:
            print(
                f"  by server CPU per request: {cpu_health:.3f} / {cpu_list:.3f} ms = {cpu_health / cpu_list * 100:.1f} %"
                " (steadier than requests/s when other processes share the CPUs)"
            )
    print(f"errors: {total_errors} in all rounds")
    print(f"command: {shlex.join([os.path.relpath(sys.executable) if sys.executable.startswith(str(ROOT)) else sys.executable, *sys.argv])}")
    return 1 if total_errors or items != 50 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per endpoint per round (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="healthz-then-list rounds (default 2)")
    parser.add_argument("--pick", choices=("best", "median"), default="best", help="which round to report (default best)")
    parser.add_argument("--only", choices=("healthz", "list"), default=None, help="drive one endpoint only (profiling)")
    parser.add_argument("--seed", choices=("demo", "api"), default="demo", help="demo data, or a rep plus 300 contacts made through the API (the fallback when `fieldbook demo` fails)")
    parser.add_argument("--database-url", default=None, help="run against this database (e.g. a scratch PostgreSQL) instead of a fresh SQLite file")
    args = parser.parse_args()
    if args.connections < 1 or args.seconds <= 0 or args.rounds < 1 or args.warmup < 0:
        parser.error("--connections and --rounds must be >= 1, --seconds > 0, --warmup >= 0")

    data_dir = Path(tempfile.mkdtemp(prefix="fieldbook-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HOST", "PORT")}
    env.update(FIELDBOOK_DATA_DIR=str(data_dir), SECRET_KEY="bench-secret-key-not-for-production-use-0123456789")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    database = "PostgreSQL" if args.database_url else "SQLite (fresh file in a temp dir)"
    host, port = "127.0.0.1", free_port()
    args.server_log = data_dir / "server.log"
    server = None
    try:
        print(f"Fieldbook API bench: {database}, one uvicorn worker, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        migrated = run_cli(env, "migrate")
        if migrated.returncode != 0:
            raise RuntimeError(f"fieldbook migrate failed:\n{migrated.stdout}{migrated.stderr}")
        seeded = seed_with_cli(env, use_demo=args.seed == "demo")
        with open(args.server_log, "wb") as log:
            server = subprocess.Popen(
                [*fieldbook_command(), "serve", "--host", host, "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return asyncio.run(bench(args, env, server, host, port, seeded))
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        if server is not None and args.server_log.exists():
            tail = args.server_log.read_text(errors="replace").splitlines()[-20:]
            print("server log (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
        return 2
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
