"""Throwaway PostgreSQL server for the test suite (standard library only).

Usage::

    from tests.pgserver import PgServer

    with PgServer() as dsn:          # postgresql://fieldbook@127.0.0.1:PORT/fieldbook_test
        ...

    server = PgServer()
    dsn = server.start()
    other_dsn = server.create_database("other")
    server.stop()                    # safe to call twice; also registered with atexit

The server uses Debian's PostgreSQL packages (``apt-get install postgresql``;
the binaries live in ``/usr/lib/postgresql/<version>/bin``).  Everything it
writes -- data directory, unix socket, log -- lives in one fresh temporary
directory that ``stop()`` removes.  It listens on a free port on 127.0.0.1
only, trusts every local connection, and runs with fsync, synchronous_commit
and full_page_writes off, so it is fast and must never hold data worth keeping.

``initdb`` refuses to run as root, so when the tests run as root the server
programs run as the ``postgres`` system user and the temporary directory is
owned by that user.  The temporary directory's parents must then be
traversable by ``postgres`` (the system temp dir is; pytest's ``tmp_path``,
under a 0700 directory, is not).

If ``FIELDBOOK_TEST_PG_DSN`` is set, ``start()`` returns it and starts nothing;
``create_database()`` then creates the database on that server with ``psql``.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

__all__ = ["PgServer", "find_bin_dir", "ENV_DSN", "ROLE", "DATABASE"]

ENV_DSN = "FIELDBOOK_TEST_PG_DSN"
ROLE = "fieldbook"
DATABASE = "fieldbook_test"
HOST = "127.0.0.1"

# The bootstrap superuser initdb creates; ``ROLE`` is created next to it.
_BOOTSTRAP_USER = "postgres"
# System user the server programs run as when the tests run as root.
_SYSTEM_USER = "postgres"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_INSTALL_HINT = "apt-get install postgresql"

# Appended to postgresql.conf (later lines win over initdb's defaults).
_SETTINGS: dict[str, str] = {
    "listen_addresses": HOST,
    "max_connections": "100",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}

_START_ATTEMPTS = 5
_INITDB_TIMEOUT = 120  # seconds
_PG_CTL_TIMEOUT = 60  # seconds, passed to pg_ctl -t
_CLIENT_TIMEOUT = 60  # seconds
_LOG_TAIL_LINES = 40
# sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107


def find_bin_dir() -> str:
    """Return the directory holding ``initdb`` and ``pg_ctl``.

    Prefers ``/usr/lib/postgresql/<highest version>/bin`` (Debian's layout),
    then falls back to the directory of ``initdb`` on ``PATH``.
    """
    versions: list[tuple[tuple[int, ...], Path]] = []
    if _DEBIAN_ROOT.is_dir():
        for child in _DEBIAN_ROOT.iterdir():
            if not re.fullmatch(r"\d+(\.\d+)*", child.name):
                continue
            bin_dir = child / "bin"
            if _has_server_programs(bin_dir):
                key = tuple(int(part) for part in child.name.split("."))
                versions.append((key, bin_dir))
    if versions:
        return str(max(versions)[1])

    initdb = shutil.which("initdb")
    if initdb:
        bin_dir = Path(initdb).resolve().parent
        if _has_server_programs(bin_dir):
            return str(bin_dir)

    raise RuntimeError(
        "PostgreSQL server programs (initdb, pg_ctl) not found in "
        f"{_DEBIAN_ROOT}/<version>/bin or on PATH; install them with: "
        f"{_INSTALL_HINT}"
    )


def _has_server_programs(bin_dir: Path) -> bool:
    return all(
        (bin_dir / name).is_file() and os.access(bin_dir / name, os.X_OK)
        for name in ("initdb", "pg_ctl", "postgres")
    )


def _pick_free_port() -> int:
    """Ask the kernel for a currently free port on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _quote_conf(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _clean_env() -> dict[str, str]:
    """Environment for child programs: no PG* variables, C messages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.pop("PSQLRC", None)
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def _dsn_with_database(dsn: str, name: str) -> str:
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise RuntimeError(f"need a postgresql:// URL to derive a DSN from, got {dsn!r}")
    parts = urllib.parse.urlsplit(dsn)
    path = "/" + urllib.parse.quote(name, safe="")
    return urllib.parse.urlunsplit(parts._replace(path=path))


class PgServer:
    """A throwaway PostgreSQL server; see the module docstring."""

    def __init__(self, base_dir: str | None = None):
        self.base_dir = base_dir
        self.bin_dir: str | None = None
        self.tmp_dir: str | None = None
        self.data_dir: str | None = None
        self.socket_dir: str | None = None
        self.log_path: str | None = None
        self.host = HOST
        self.port: int | None = None
        self.dsn: str | None = None
        self.external = False  # True when FIELDBOOK_TEST_PG_DSN was used
        self._running = False
        self._owner_pid: int | None = None
        self._run_as: pwd.struct_passwd | None = None

    # -- public API --------------------------------------------------------

    def start(self) -> str:
        """Start the server (once) and return the DSN of ``fieldbook_test``."""
        if self.dsn is not None:
            return self.dsn
        external = os.environ.get(ENV_DSN)
        if external:
            self.external = True
            self.dsn = external
            return external

        self.bin_dir = find_bin_dir()
        self._run_as = self._server_user()
        self._owner_pid = os.getpid()
        self.tmp_dir = tempfile.mkdtemp(prefix="fieldbook-pg-", dir=self.base_dir)
        atexit.register(self._stop_at_exit)
        try:
            self._start()
        except BaseException:
            try:
                self.stop()
            except Exception as exc:  # keep the original error
                print(f"tests/pgserver.py: cleanup failed: {exc}", file=sys.stderr)
            raise
        return self.dsn

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call repeatedly.

        Raises RuntimeError if the server is still running afterwards.
        """
        if self.external:
            self.dsn = None
            self.external = False
            return
        if self.tmp_dir is None:
            return
        if self._owner_pid != os.getpid():
            # A forked child inherited this object: the server is not ours.
            return
        atexit.unregister(self._stop_at_exit)
        error: str | None = None
        if self.data_dir and os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
            error = self._shutdown()
        if error is None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None
        self._running = False
        self.dsn = None
        if error is not None:
            raise RuntimeError(error)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (owned by ``fieldbook``) and return its DSN."""
        if self.dsn is None:
            raise RuntimeError("PgServer.create_database() called before start()")
        sql = f"CREATE DATABASE {_quote_ident(name)}"
        new_dsn = _dsn_with_database(self.dsn, name)
        if self.external:
            self._psql_external(sql)
        else:
            self._psql(f"{sql} OWNER {_quote_ident(ROLE)}")
        return new_dsn

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "external" if self.external else ("running" if self._running else "stopped")
        return f"<PgServer {state} dsn={self.dsn!r}>"

    # -- start-up ----------------------------------------------------------

    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        """The user to run initdb/pg_ctl/postgres as: None means ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(_SYSTEM_USER)
        except KeyError:
            raise RuntimeError(
                f"running as root, but there is no {_SYSTEM_USER!r} system user to run "
                f"PostgreSQL as (initdb refuses to run as root); install it with: "
                f"{_INSTALL_HINT}"
            ) from None

    def _start(self) -> None:
        assert self.tmp_dir is not None
        tmp = Path(self.tmp_dir)
        self.data_dir = str(tmp / "data")
        self.socket_dir = str(tmp / "sock")
        self.log_path = str(tmp / "server.log")
        os.mkdir(self.socket_dir, 0o700)
        if self._run_as is not None:
            os.chown(tmp, self._run_as.pw_uid, self._run_as.pw_gid)
            os.chown(self.socket_dir, self._run_as.pw_uid, self._run_as.pw_gid)
        socket_path = os.path.join(self.socket_dir, ".s.PGSQL.65535")
        if len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH:
            raise RuntimeError(
                f"temporary directory {self.tmp_dir!r} is too long for a unix socket "
                "path; pass a shorter base_dir"
            )

        self._initdb()
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as conf:
            conf.write("\n# Added by tests/pgserver.py\n")
            settings = dict(_SETTINGS, unix_socket_directories=self.socket_dir)
            for key, value in settings.items():
                conf.write(f"{key} = {_quote_conf(value)}\n")

        for attempt in range(1, _START_ATTEMPTS + 1):
            port = _pick_free_port()
            log_offset = self._log_size()
            result = self._run_server_program(
                [
                    os.path.join(self.bin_dir, "pg_ctl"), "start",
                    "-w", "-t", str(_PG_CTL_TIMEOUT),
                    "-D", self.data_dir,
                    "-l", self.log_path,
                    "-o", f"-p {port}",
                ],
                timeout=_PG_CTL_TIMEOUT + 30,
            )
            if result.returncode == 0:
                break
            new_log = self._read_log(log_offset)
            if attempt < _START_ATTEMPTS and self._port_taken(new_log):
                continue  # someone grabbed the port between pick and bind
            raise RuntimeError(self._failure("pg_ctl start failed", result))

        self.port = port
        self._running = True
        self._psql(
            f"CREATE ROLE {_quote_ident(ROLE)} SUPERUSER LOGIN",
            f"CREATE DATABASE {_quote_ident(DATABASE)} OWNER {_quote_ident(ROLE)}",
        )
        self.dsn = f"postgresql://{ROLE}@{HOST}:{port}/{DATABASE}"

    def _initdb(self) -> None:
        result = self._run_server_program(
            [
                os.path.join(self.bin_dir, "initdb"),
                "-D", self.data_dir,
                "-U", _BOOTSTRAP_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=_INITDB_TIMEOUT,
        )
        if result.returncode != 0:
            hint = ""
            if self._run_as is not None and "ermission denied" in result.stdout + result.stderr:
                hint = (
                    f"\n(hint: initdb runs as {self._run_as.pw_name!r}, which must be able "
                    f"to reach {self.tmp_dir!r}; pass a base_dir whose parents it can enter)"
                )
            raise RuntimeError(self._failure("initdb failed", result) + hint)

    @staticmethod
    def _port_taken(log_text: str) -> bool:
        return (
            "Address already in use" in log_text
            or "could not create any TCP/IP sockets" in log_text
        )

    # -- shutdown ----------------------------------------------------------

    def _shutdown(self) -> str | None:
        """Stop the postmaster; return an error message if it is still running."""
        result = None
        try:
            result = self._run_server_program(
                [
                    os.path.join(self.bin_dir, "pg_ctl"), "stop",
                    "-w", "-t", str(_PG_CTL_TIMEOUT),
                    "-m", "immediate",
                    "-D", self.data_dir,
                ],
                timeout=_PG_CTL_TIMEOUT + 30,
            )
        except subprocess.TimeoutExpired:
            pass
        if result is not None and result.returncode == 0:
            return None
        # pg_ctl failed (or the server died already): make sure it is gone.
        pid = self._postmaster_pid()
        if pid is not None and _pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                return self._failure(f"could not stop the server (pid {pid})", result)
        return None

    def _postmaster_pid(self) -> int | None:
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception as exc:  # never turn interpreter exit into a traceback
            print(f"tests/pgserver.py: {exc}", file=sys.stderr)

    # -- helpers -----------------------------------------------------------

    def _run_server_program(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run initdb/pg_ctl as the server user (``postgres`` when we are root)."""
        kwargs: dict = {}
        env = _clean_env()
        if self._run_as is not None:
            kwargs = dict(
                user=self._run_as.pw_uid,
                group=self._run_as.pw_gid,
                extra_groups=[],
            )
            env.update(HOME=self._run_as.pw_dir, USER=self._run_as.pw_name,
                       LOGNAME=self._run_as.pw_name)
        return subprocess.run(
            args,
            cwd=self.tmp_dir,  # the server user must be able to enter its cwd
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )

    def _psql(self, *statements: str) -> None:
        """Run statements (each its own transaction) as the bootstrap superuser."""
        args = [
            os.path.join(self.bin_dir, "psql"), "-X", "-q",
            "-v", "ON_ERROR_STOP=1",
            "-h", self.socket_dir, "-p", str(self.port),
            "-U", _BOOTSTRAP_USER, "-d", "postgres",
        ]
        for sql in statements:
            args += ["-c", sql]
        result = subprocess.run(
            args, env=_clean_env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=_CLIENT_TIMEOUT,
        )
        if result.returncode != 0:
            raise RuntimeError(self._failure("psql failed", result))

    def _psql_external(self, sql: str) -> None:
        psql = None
        try:
            candidate = os.path.join(find_bin_dir(), "psql")
            if os.access(candidate, os.X_OK):
                psql = candidate
        except RuntimeError:
            pass
        psql = psql or shutil.which("psql")
        if psql is None:
            raise RuntimeError(f"psql not found; install it with: {_INSTALL_HINT}")
        result = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn, "-c", sql],
            env=_clean_env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=_CLIENT_TIMEOUT,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"psql failed against {ENV_DSN} server: {result.stderr.strip()}"
            )

    def _log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except (OSError, TypeError):
            return 0

    def _read_log(self, offset: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def _failure(self, what: str, result: subprocess.CompletedProcess | None) -> str:
        lines = [f"PgServer: {what}"]
        if result is not None:
            lines.append(f"command: {' '.join(result.args)} (exit {result.returncode})")
            output = (result.stdout + result.stderr).strip()
            if output:
                lines.append("output:\n" + output)
        tail = self._read_log().splitlines()[-_LOG_TAIL_LINES:]
        if tail:
            lines.append(f"server log ({self.log_path}), last lines:\n" + "\n".join(tail))
        else:
            lines.append("server log: (empty)")
        return "\n".join(lines)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # The postmaster is not our child (pg_ctl forks it), so once dead it may
    # linger as a zombie until init reaps it: that counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True
