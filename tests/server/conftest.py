"""Server test fixtures: every test runs against SQLite and against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.middleware.csrf import generate_csrf_token
from litestar.testing import TestClient

from server import db
from server.app import bind_tables, create_app, engine_for
from server.domain.accounts import services as accounts
from server.domain.accounts.tables import Team, User
from server.piccolo_app import TABLES
from server.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings
from tests.pgserver import PgServer

PASSWORD = "correct horse battery"
#: Hashed once: argon2 is slow on purpose, and a test makes many users.
_PASSWORD_HASH = accounts.hash_password(PASSWORD)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("FIELDBOOK_TEST_DB", "sqlite,postgres"),
        help="comma-separated databases to run the server tests on: sqlite, postgres",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" in metafunc.fixturenames:
        names = [n.strip() for n in metafunc.config.getoption("--db").split(",") if n.strip()]
        metafunc.parametrize("database", names, indirect=True, scope="session")


def run(engine: Any, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run async database work in its own event loop, opening and closing the engine around it."""

    async def wrapped() -> Any:
        bind_tables(engine)
        await db.start(engine)
        try:
            return await work()
        finally:
            await db.stop(engine)

    return asyncio.run(wrapped())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for a migrated database of the requested kind."""
    from server.cli import migrate_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    elif request.param == "postgres":
        url = request.getfixturevalue("pg_server").create_database(f"test_{uuid.uuid4().hex[:8]}")
    else:
        raise pytest.UsageError(f"unknown database {request.param}")
    settings = Settings(
        database=DatabaseSettings(url=url),
        server=ServerSettings(),
        security=SecuritySettings(secret_key="test-secret-key-not-for-production", login_failures=5),
    )
    run(engine_for(settings), lambda: migrate_database(quiet=True))
    return settings


async def _wipe() -> None:
    # Children before parents; the clock row and Piccolo's migration table stay.
    for table in reversed(TABLES):
        if table._meta.tablename != "sync_clock":
            await table.delete(force=True)


@dataclass
class World:
    """Two teams and a user of every role, as the authorization tests need them."""

    north: int
    south: int
    users: dict[str, accounts.CurrentUser]


async def _make_world() -> World:
    await _wipe()
    north = Team(name="North")
    south = Team(name="South")
    await north.save()
    await south.save()
    people = {
        "admin": ("admin", None),
        "manager": ("manager", north.id),
        "rep": ("rep", north.id),
        "rep2": ("rep", north.id),
        "manager_south": ("manager", south.id),
        "rep_south": ("rep", south.id),
    }
    users: dict[str, accounts.CurrentUser] = {}
    for key, (role, team) in people.items():
        email = f"{key.replace('_', '.')}@test.example"
        user = User(email=email, name=key.title(), role=role, team=team, password_hash=_PASSWORD_HASH, created_at=accounts.now())
        await user.save()
        found = await accounts.user_by_id(user.id)
        assert found is not None
        users[key] = found
    return World(north=north.id, south=south.id, users=users)


class Api:
    """A signed-in user's view of the API: session cookie and CSRF header on every request."""

    def __init__(self, client: TestClient, token: str | None, csrf: str) -> None:
        self.client = client
        self.token = token
        self.csrf = csrf

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        cookies = [f"csrftoken={self.csrf}"]
        if self.token:
            cookies.append(f"fieldbook_session={self.token}")
        headers = {"cookie": "; ".join(cookies), "x-csrftoken": self.csrf, **kwargs.pop("headers", {})}
        self.client.cookies.clear()
        response = self.client.request(method, url, headers=headers, **kwargs)
        self.client.cookies.clear()
        return response

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)


@dataclass
class Env:
    settings: Settings
    client: TestClient
    world: World
    apis: dict[str, Api]

    def as_(self, who: str) -> Api:
        return self.apis[who]

    def anonymous(self) -> Api:
        return Api(self.client, None, generate_csrf_token(self.settings.security.secret_key))

    def call(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run async work on the app's own event loop (to inspect the database directly)."""
        return self.client.blocking_portal.call(work)  # type: ignore[union-attr]


@pytest.fixture
def env(database: Settings) -> Iterator[Env]:
    """A fresh world of two teams and six users, and a signed-in API for each user."""
    engine = engine_for(database)

    async def setup() -> tuple[World, dict[str, str]]:
        world = await _make_world()
        tokens = {k: await accounts.start_session(u.id, database.security) for k, u in world.users.items()}
        return world, tokens

    world, tokens = run(engine, setup)
    app = create_app(database)
    with TestClient(app) as client:
        csrf = generate_csrf_token(database.security.secret_key)
        apis = {k: Api(client, t, csrf) for k, t in tokens.items()}
        yield Env(settings=database, client=client, world=world, apis=apis)
