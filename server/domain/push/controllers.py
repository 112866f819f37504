"""The push API: the VAPID public key, and the device's own subscription."""

from typing import Annotated

from litestar import Controller, Request, delete, get, post
from litestar.params import Parameter

from server.domain.accounts.guards import requires_login
from server.domain.crm.controllers import strictly
from server.domain.push import schemas, services
from server.settings import Settings


class PushController(Controller):
    path = "/api/v1/push"
    tags = ["push"]
    guards = [requires_login]

    @get("/key", operation_id="push_key")
    async def key(self, settings: Settings) -> schemas.PublicKey:
        return schemas.PublicKey(public_key=services.public_key(settings.push))

    @post("/subscriptions", operation_id="push_subscribe", status_code=201)
    async def subscribe(self, request: Request, settings: Settings) -> schemas.Subscription:
        body = await strictly(request, schemas.SubscriptionCreate, nested=True)
        agent = request.headers.get("user-agent", "")
        return await services.subscribe(request.user, body, agent, settings.push)  # type: ignore[arg-type]

    @delete("/subscriptions", operation_id="push_unsubscribe", status_code=204)
    async def unsubscribe(
        self,
        request: Request,
        replica: Annotated[str, Parameter(min_length=1, max_length=64, description="the device's replica id")],
    ) -> None:
        await services.unsubscribe(request.user, replica)
