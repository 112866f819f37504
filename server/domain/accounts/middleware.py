"""Session middleware: resolves the session cookie to the signed-in user, when there is one."""

from litestar.types import ASGIApp, Receive, Scope, Send

from server.domain.accounts.services import user_for_session

SESSION_COOKIE = "fieldbook_session"


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


class SessionUserMiddleware:
    """Sets scope["user"] for requests carrying a live session; guards decide what needs one.

    Written as plain ASGI rather than Litestar's authentication middleware so that public
    pages (the login page, /healthz) pay nothing and still know who is signed in.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            token = _cookie(scope, SESSION_COOKIE)
            scope["user"] = await user_for_session(token) if token else None
        await self.app(scope, receive, send)
