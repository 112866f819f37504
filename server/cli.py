"""The `fieldbook` command: serve, migrate, demo data, users, the push worker."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from server.settings import PushSettings, get_settings


def _run(work: Callable[[], Awaitable[Any]]) -> Any:
    """Run one piece of async work against the configured database, then close it cleanly."""
    from server import db
    from server.app import bind_tables, engine_for

    async def wrapped() -> Any:
        engine = engine_for(get_settings())
        bind_tables(engine)
        await db.start(engine)
        try:
            return await work()
        finally:
            await db.stop(engine)

    return asyncio.run(wrapped())


async def migrate_database(quiet: bool = False) -> None:
    import contextlib
    import io

    from piccolo.apps.migrations.commands.forwards import run_forwards

    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_forwards("all")
    if not result.success:
        raise click.ClickException(f"migration failed: {result.message}\n{out.getvalue()}")


@click.group()
def main() -> None:
    """Fieldbook: the offline-first CRM for field sales."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: $HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: $PORT or 8000).")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option("--access-log/--no-access-log", default=None, help="Log every request (default: $ACCESS_LOG, else off).")
def serve(host: str | None, port: int | None, workers: int, access_log: bool | None) -> None:
    """Serve the app with uvicorn."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "server.asgi:app",
        host=host or settings.server.host,
        port=port or settings.server.port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
        access_log=settings.server.access_log if access_log is None else access_log,
    )


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    _run(lambda: migrate_database(quiet=True))
    click.echo("database is up to date")


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds users.")
def demo(if_empty: bool) -> None:
    """Load the demo teams, users and records (idempotent)."""
    from server.demo import LOGINS, load_demo

    created = _run(lambda: load_demo(if_empty=if_empty))
    click.echo("demo data loaded" if created else "demo data already present")
    click.echo("sign in at http://127.0.0.1:8000/ with any of these (password: fieldbook):")
    for email, role, team in LOGINS:
        click.echo(f"  {email:32} {role:8} {team or ''}")


@main.command()
def icons() -> None:
    """Draw the app icons again into pwa/icons/ (after changing server/icons.py)."""
    from server.icons import write_icons
    from server.settings import PROJECT_ROOT

    for path in write_icons(PROJECT_ROOT / "pwa" / "icons"):
        click.echo(f"wrote {path.relative_to(PROJECT_ROOT)}")


@main.group()
def user() -> None:
    """Manage users."""


@user.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["rep", "manager", "admin"]), required=True)
@click.option("--team", default=None, help="Team name (created if new); required for reps and managers.")
@click.option("--name", default=None, help="Display name (default: from the e-mail).")
def user_add(email: str, role: str, team: str | None, name: str | None) -> None:
    """Add a user; the password is read from stdin or prompted for."""
    from server.domain.accounts.services import UserError, add_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user_id = _run(lambda: add_user(email, password, role, team, name))
    except UserError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"added user {user_id}: {email.lower()} ({role}{', ' + team if team else ''})")


@user.command("move")
@click.argument("email")
@click.option("--team", required=True, help="The team to move to (created if new).")
def user_move(email: str, team: str) -> None:
    """Move a user to another team, with their deals, activities and tasks."""
    from server.domain.accounts.services import get_or_create_team
    from server.domain.accounts.tables import User
    from server.domain.crm.services import move_user

    async def work() -> bool:
        row = await User.select(User.id).where(User.email == email.strip().lower()).first()
        if row is None:
            raise click.ClickException(f"no user with e-mail {email}")
        return await move_user(row["id"], await get_or_create_team(team))

    moved = _run(work)
    click.echo(f"moved {email} to {team}" if moved else f"{email} is in {team} already")


@main.command()
def vapid() -> None:
    """Print the VAPID public key (the applicationServerKey phones subscribe with)."""
    from server.domain.push.services import public_key

    click.echo(public_key(get_settings().push))


@main.command()
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--concurrency", default=None, type=click.IntRange(1, 1000), help="Pushes in flight at once (default: $PUSH_CONCURRENCY or 64).")
@click.option("--poll", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds between looks for new messages.")
def worker(once: bool, concurrency: int | None, poll: float) -> None:
    """Send push messages (task reminders and others) as they come due."""
    import dataclasses
    import logging
    import signal

    from server.app import engine_for
    from server.domain.push.worker import Worker

    settings = get_settings()
    push = dataclasses.replace(settings.push, concurrency=concurrency) if concurrency else settings.push
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if push.subject == PushSettings.subject:
        # Push services write to this address about problems with the pushes, or refuse them.
        click.echo(f"warning: VAPID_SUBJECT is not set; push services see {push.subject}, which reaches nobody", err=True)

    async def work() -> int:
        dispatcher = Worker(push, engine_for(settings))
        if once:
            return await dispatcher.run_once()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo(f"push worker {dispatcher.name} running; stop with Ctrl-C")
        await dispatcher.run_forever(stop, poll_s=poll)
        return 0

    handled = _run(work)
    if once:
        click.echo(f"handled {handled} push messages")
