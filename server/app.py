"""The Litestar application factory."""

from __future__ import annotations

import logging
import sqlite3

import asyncpg
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.engine.base import Engine

from server import db
from server.bodies import JsonRequest
from server.domain.accounts.controllers import AuthController, LoginPageController
from server.domain.accounts.middleware import SessionUserMiddleware
from server.domain.approvals.controllers import DealHistoryController, RulesController, TeamController
from server.domain.crm.controllers import CONTROLLERS as CRM_CONTROLLERS
from server.domain.crm.services import FieldErrors, NotVisible, SearchIndexer
from server.domain.push.controllers import PushController
from server.domain.shell.controllers import ShellController
from server.domain.syncing.controllers import SyncController
from server.settings import PROJECT_ROOT, DatabaseSettings, Settings, get_settings

log = logging.getLogger("fieldbook")

#: Everything the page may load comes from this origin; no inline script anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@get("/healthz", operation_id="healthz", include_in_schema=False, media_type=MediaType.JSON)
async def healthz() -> dict[str, str]:
    """Liveness only: no session, no database, so a load balancer's probe costs nothing."""
    return {"status": "ok"}


def _field_errors(request: Request, error: FieldErrors) -> Response:
    return Response(
        {
            "status_code": 400,
            "detail": f"Validation failed for {request.method} {request.url.path}",
            "extra": [{"key": field, "message": message, "source": "body"} for field, message in error.errors],
        },
        status_code=400,
    )


def _not_visible(_: Request, __: NotVisible) -> Response:
    return Response({"status_code": 404, "detail": "no such record"}, status_code=404)


def _nul_in_text(_: Request, error: Exception) -> Response:
    # Record values are checked for it before any write; this catches it anywhere else (a
    # sign-in, a search, a query parameter): PostgreSQL refuses it in every text it is given.
    return Response({"status_code": 400, "detail": "text must not hold the NUL character (\\u0000)"}, status_code=400)


def _conflict(_: Request, error: Exception) -> Response:
    # A race between two writers on a unique key: the loser learns it, nothing half-stored.
    log.info("integrity error: %s", error)
    return Response({"status_code": 409, "detail": "that conflicts with a record stored meanwhile; try again"}, status_code=409)


def security_headers(app: ASGIApp) -> ASGIApp:
    """Adds the Content-Security-Policy to HTML answers and the usual hardening headers to all."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"same-origin"))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def engine_for(settings: Settings) -> Engine:
    """The configured engine; a test's own settings get an engine of their own."""
    from server import piccolo_conf

    if settings.database == get_settings().database:
        return piccolo_conf.CONFIGURED_DB
    if settings.database not in _engines:
        _engines[settings.database] = db.make_engine(settings.database)
    return _engines[settings.database]


_engines: dict[DatabaseSettings, Engine] = {}


def bind_tables(engine: Engine) -> None:
    from server import piccolo_conf
    from server.piccolo_app import TABLES

    from piccolo.apps.migrations.tables import Migration

    piccolo_conf.DB = engine
    # Piccolo's own record of applied migrations caches its engine too.
    for table in (*TABLES, Migration):
        table._meta.db = engine


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    engine = engine_for(settings)
    bind_tables(engine)

    indexer = SearchIndexer(engine)

    async def on_startup(app: Litestar) -> None:
        await db.start(engine)
        indexer.start()

    async def on_shutdown(app: Litestar) -> None:
        await indexer.stop()
        await db.stop(engine)

    return Litestar(
        route_handlers=[
            healthz,
            AuthController,
            LoginPageController,
            ShellController,
            *CRM_CONTROLLERS,
            SyncController,
            RulesController,
            DealHistoryController,
            TeamController,
            PushController,
            create_static_files_router(path="/static", directories=[PROJECT_ROOT / "pwa"], include_in_schema=False),
        ],
        dependencies={"settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True)},
        middleware=[security_headers, SessionUserMiddleware],
        csrf_config=CSRFConfig(
            secret=settings.security.secret_key,
            cookie_secure=settings.security.secure_cookies,
            cookie_samesite="lax",
            # The JSON sign-in demands application/json, which no cross-site form can send.
            exclude=["/api/v1/auth/login", "/healthz"],
        ),
        template_config=TemplateConfig(directory=PROJECT_ROOT / "server" / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(title="Fieldbook", version="1", path="/schema"),
        exception_handlers={
            FieldErrors: _field_errors,
            NotVisible: _not_visible,
            sqlite3.IntegrityError: _conflict,
            asyncpg.exceptions.IntegrityConstraintViolationError: _conflict,
            asyncpg.exceptions.CharacterNotInRepertoireError: _nul_in_text,
        },
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=State({"settings": settings}),
        request_class=JsonRequest,
        debug=False,
    )
