"""Settings, one dataclass per concern, read from the environment once."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

#: The project root: data paths are anchored here, never to the working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    return Path(os.environ.get("FIELDBOOK_DATA_DIR", PROJECT_ROOT / "data")).resolve()


@dataclass(frozen=True)
class DatabaseSettings:
    #: sqlite:///absolute/path.db or postgresql://user@host:port/name
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path:
        raw = self.url.split(":///", 1)[1] if ":///" in self.url else self.url.split(":", 1)[1]
        path = Path(raw)
        return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    #: uvicorn's line per request; off by default, as it cost a tenth of a list request's CPU.
    access_log: bool = False


@dataclass(frozen=True)
class SecuritySettings:
    secret_key: str
    #: Cookies are Secure when served over HTTPS; a plain-HTTP dev server would lose them otherwise.
    secure_cookies: bool = False
    session_days: int = 30
    #: Failed logins allowed per account and per address inside the window.
    login_failures: int = 10
    login_window_seconds: int = 900


def new_vapid_key() -> str:
    """A fresh VAPID private key (P-256) as PKCS#8 PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class PushSettings:
    #: The VAPID private key, PEM; its public half is what phones subscribe with.
    vapid_private_key: str = field(default_factory=new_vapid_key, repr=False)
    #: The VAPID `sub` claim: how a push service reaches the operator.
    subject: str = "mailto:admin@fieldbook.example"
    #: Accept http:// endpoints on loopback hosts (a local push receiver in tests and benchmarks).
    allow_loopback_http: bool = False
    #: Pushes in flight at once per worker.
    concurrency: int = 64
    #: Seconds to wait for a push service's answer.
    timeout_s: float = 10.0
    #: Tries per subscription for 429, 5xx and timeouts; the waits between them double from this.
    max_attempts: int = 4
    backoff_s: float = 0.5
    #: The longest wait between tries, whatever Retry-After asks.
    max_backoff_s: float = 30.0
    #: A reminder found this late (a worker down for a day) is dropped rather than sent.
    stale_after_s: int = 24 * 3600
    #: Seconds a worker may hold claimed messages before another takes them (a crashed worker's).
    lease_s: int = 300
    #: Days the record of a finished message and of every attempt is kept (see Worker.prune).
    #: More than stale_after_s, so a deleted record cannot let a reminder go out twice.
    keep_days: int = 30

    def __post_init__(self) -> None:
        if self.keep_days * 86400 <= self.stale_after_s:
            raise ValueError(f"PUSH_KEEP_DAYS must be more than {self.stale_after_s / 86400:g} day(s), not {self.keep_days}")


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    server: ServerSettings
    security: SecuritySettings
    data_dir: Path = field(default_factory=_data_dir)
    push: PushSettings = field(default_factory=PushSettings)


def _secret_key(data_dir: Path) -> str:
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        # Written once, readable only by the owner, shared by every process on this machine.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return key_file.read_text().strip()


def _vapid_private_key(data_dir: Path) -> str:
    from_env = os.environ.get("VAPID_PRIVATE_KEY")
    if from_env:
        # PEM, or the base64url forms py_vapid prints (raw 32 bytes or DER): normalised to PEM.
        return from_env if from_env.lstrip().startswith("-----") else _vapid_pem(from_env.strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "vapid_private_key.pem"
    if not key_file.exists():
        # Written whole under another name, then linked: a second process starting at the same
        # moment either wins the link or reads the winner's complete key, never half of one.
        partial = data_dir / f".vapid_private_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_vapid_key())
        try:
            os.link(partial, key_file)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return key_file.read_text()


def _vapid_pem(encoded: str) -> str:
    from py_vapid import Vapid

    from cryptography.hazmat.primitives import serialization

    return Vapid.from_string(encoded).private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def from_env() -> Settings:
    data_dir = _data_dir()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'fieldbook.db'}"
    return Settings(
        database=DatabaseSettings(url=url),
        server=ServerSettings(
            host=os.environ.get("HOST", "127.0.0.1"),
            port=_int_env("PORT", 8000),
            access_log=os.environ.get("ACCESS_LOG", "").lower() in {"1", "true", "yes"},
        ),
        security=SecuritySettings(
            secret_key=_secret_key(data_dir),
            secure_cookies=os.environ.get("SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
        ),
        data_dir=data_dir,
        push=PushSettings(
            vapid_private_key=_vapid_private_key(data_dir),
            subject=os.environ.get("VAPID_SUBJECT") or PushSettings.subject,
            concurrency=_int_env("PUSH_CONCURRENCY", PushSettings.concurrency),
            keep_days=_int_env("PUSH_KEEP_DAYS", PushSettings.keep_days),
        ),
    )


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_env()
