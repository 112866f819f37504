"""Guards of the accounts domain."""

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from server.domain.accounts.services import CurrentUser


# Async although they never wait: Litestar runs a plain function guard in a worker thread, and
# that trip cost more than the rest of the guard on every request.


async def requires_login(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not isinstance(connection.scope.get("user"), CurrentUser):
        raise NotAuthorizedException("sign in first")


async def requires_admin(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    await requires_login(connection, handler)
    if not connection.user.is_admin:
        raise PermissionDeniedException("only an admin may do this")
