"""The three sync endpoints, exactly as shared/SYNC.md fixes them."""

from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import ValidationException
from litestar.params import Parameter

import sync
from server.bodies import NOT_JSON, not_json
from server.domain.accounts.guards import requires_login
from server.domain.syncing import services


def _decode(raw: bytes, shape: type) -> object:
    """Strict decoding, so a malformed body is a 400 that says what is wrong, never a 500."""
    try:
        if shape is sync.PushBody:
            return sync.decode_push_body(raw or b"{}")  # the same decode, faster
        return msgspec.json.decode(raw or b"{}", type=shape, strict=True)
    except msgspec.ValidationError as error:
        raise ValidationException(f"invalid body: {error}") from error
    except NOT_JSON as error:
        raise ValidationException(f"invalid body: {not_json(error)}") from error


class SyncController(Controller):
    path = "/api/v1/sync"
    tags = ["sync"]
    guards = [requires_login]

    @post("/devices", operation_id="register_device", status_code=201)
    async def register_device(self, request: Request) -> sync.DeviceCreated:
        body = _decode(await request.body(), sync.DeviceCreate)
        return sync.DeviceCreated(replica=await services.register_device(request.user, body.name))  # type: ignore[attr-defined]

    @post("/push", operation_id="push", status_code=200)
    async def push(self, request: Request) -> sync.PushResponse:
        body = _decode(await request.body(), sync.PushBody)
        return sync.PushResponse(results=await services.push(request.user, body))  # type: ignore[arg-type]

    @get("/pull", operation_id="pull")
    async def pull(
        self,
        request: Request,
        after: Annotated[str | None, Parameter(max_length=100, description="the cursor of the last page")] = None,
        limit: Annotated[int, Parameter(ge=1, le=10_000, description=f"at most {services.MAX_PULL} are sent")] = services.DEFAULT_PULL,
    ) -> sync.PullPage:
        try:
            start = services.decode_cursor(after)
        except services.BadCursor as error:
            raise ValidationException("after: not a cursor this server gave out", extra=[{"key": "after", "message": "unknown cursor"}]) from error
        return await services.pull(request.user, start, min(limit, services.MAX_PULL))
