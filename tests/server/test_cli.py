"""The `fieldbook` command and settings, as an operator meets them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from server.settings import PROJECT_ROOT, from_env

FIELDBOOK = str(Path(sys.executable).with_name("fieldbook"))


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env["FIELDBOOK_DATA_DIR"] = str(data_dir)
    return env


def test_default_database_is_anchored_to_the_project_not_the_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("FIELDBOOK_DATA_DIR", raising=False)
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.chdir(tmp_path)
    settings = from_env()
    assert settings.database.is_sqlite
    assert settings.database.sqlite_path == PROJECT_ROOT / "data" / "fieldbook.db"


def test_secret_key_is_generated_once_into_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("FIELDBOOK_DATA_DIR", str(tmp_path))
    first = from_env().security.secret_key
    assert len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert from_env().security.secret_key == first
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert from_env().security.secret_key == "from-the-environment"


@pytest.mark.parametrize("name", ["PORT", "PUSH_CONCURRENCY", "PUSH_KEEP_DAYS"])
def test_a_number_setting_that_is_not_a_number_names_itself(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    monkeypatch.setenv("FIELDBOOK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.setenv(name, "eight")
    with pytest.raises(ValueError, match=f"^{name} must be a whole number, not 'eight'$"):
        from_env()
    monkeypatch.setenv(name, "")
    assert from_env()  # empty: the default


def test_migrate_add_user_and_serve(tmp_path: Path) -> None:
    env = _env(tmp_path)
    run = lambda *args, **kw: subprocess.run([FIELDBOOK, *args], env=env, capture_output=True, text=True, timeout=120, **kw)  # noqa: E731
    assert run("migrate").returncode == 0
    assert run("migrate").returncode == 0  # twice is harmless
    added = run("user", "add", "Boss@Example.test", "--role", "manager", "--team", "West", input="long enough password\n")
    assert added.returncode == 0, added.stderr
    assert "boss@example.test" in added.stdout
    again = run("user", "add", "boss@example.test", "--role", "rep", "--team", "West", input="long enough password\n")
    assert again.returncode != 0 and "already exists" in again.stderr
    no_team = run("user", "add", "rep@example.test", "--role", "rep", input="long enough password\n")
    assert no_team.returncode != 0 and "needs a team" in no_team.stderr
    short = run("user", "add", "rep@example.test", "--role", "rep", "--team", "West", input="short\n")
    assert short.returncode != 0 and "8 characters" in short.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([FIELDBOOK, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert "Sign in" in page and 'type="password"' in page
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            data=b'{"email": "boss@example.test", "password": "long enough password"}',
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            cookie = next(v for k, v in response.headers.items() if k.lower() == "set-cookie" and v.startswith("fieldbook_session="))
        listing = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/contacts", headers={"cookie": cookie.split(";")[0]})
        with urllib.request.urlopen(listing, timeout=10) as response:
            assert response.status == 200 and b'"items":[]' in response.read()
    finally:
        server.terminate()
        server.wait(timeout=20)  # exits promptly: no database thread left hanging
