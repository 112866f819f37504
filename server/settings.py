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


@dataclass(frozen=True)
class SecuritySettings:
    secret_key: str
    #: Cookies are Secure when served over HTTPS; a plain-HTTP dev server would lose them otherwise.
    secure_cookies: bool = False
    session_days: int = 30
    #: Failed logins allowed per account and per address inside the window.
    login_failures: int = 10
    login_window_seconds: int = 900


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    server: ServerSettings
    security: SecuritySettings
    data_dir: Path = field(default_factory=_data_dir)


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


def from_env() -> Settings:
    data_dir = _data_dir()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'fieldbook.db'}"
    return Settings(
        database=DatabaseSettings(url=url),
        server=ServerSettings(
            host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
        ),
        security=SecuritySettings(
            secret_key=_secret_key(data_dir),
            secure_cookies=os.environ.get("SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
        ),
        data_dir=data_dir,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_env()
