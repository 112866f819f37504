"""The push API: the VAPID public key, and the device's own subscription."""

import re
from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import Parameter

from server.domain.accounts.guards import requires_login
from server.domain.crm.services import FieldErrors
from server.domain.push import schemas, services
from server.settings import Settings


def _field_error(error: msgspec.ValidationError) -> tuple[str, str]:
    """(field, message), keeping nested paths whole: "keys.p256dh", not "keys"."""
    message, _, where = str(error).partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    named = re.search(r"(?:unknown|missing required) field `([^`]+)`", message)
    if named:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return path or "body", message


async def _decode(request: Request, shape: type[msgspec.Struct]) -> msgspec.Struct:
    try:
        return msgspec.json.decode(await request.body() or b"{}", type=shape, strict=True)
    except msgspec.ValidationError as error:
        raise FieldErrors([_field_error(error)]) from error
    except msgspec.DecodeError as error:
        raise FieldErrors([("body", f"not JSON: {error}")]) from error


class PushController(Controller):
    path = "/api/v1/push"
    tags = ["push"]
    guards = [requires_login]

    @get("/key", operation_id="push_key")
    async def key(self, settings: Settings) -> schemas.PublicKey:
        return schemas.PublicKey(public_key=services.public_key(settings.push))

    @post("/subscriptions", operation_id="push_subscribe", status_code=201)
    async def subscribe(self, request: Request, settings: Settings) -> schemas.Subscription:
        body = await _decode(request, schemas.SubscriptionCreate)
        agent = request.headers.get("user-agent", "")
        return await services.subscribe(request.user, body, agent, settings.push)  # type: ignore[arg-type]

    @delete("/subscriptions", operation_id="push_unsubscribe", status_code=204)
    async def unsubscribe(
        self,
        request: Request,
        replica: Annotated[str, Parameter(min_length=1, max_length=64, description="the device's replica id")],
    ) -> None:
        await services.unsubscribe(request.user, replica)
