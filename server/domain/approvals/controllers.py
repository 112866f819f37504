"""The approvals API: each team's rules (an admin edits them), a deal's audit trail, the team's people."""

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import Parameter

from server.domain.accounts.guards import requires_admin, requires_login
from server.domain.accounts.tables import User
from server.domain.approvals import schemas, services
from server.domain.crm.controllers import strictly
from server.domain.crm.schemas import MAX_ID
from server.domain.crm.services import KINDS, RecordService


class RulesController(Controller):
    path = "/api/v1/rules"
    tags = ["approvals"]
    guards = [requires_login]

    @get("/", operation_id="list_rules")
    async def list_rules(self, request: Request) -> schemas.RulesPage:
        return schemas.RulesPage(items=await services.list_rules(request.user))

    @put("/{team:int}", operation_id="set_rules", guards=[requires_admin])
    async def set_rules(self, request: Request, team: Annotated[int, Parameter(ge=1, le=MAX_ID)]) -> services.Rules:
        body = await strictly(request, schemas.RulesUpdate)
        return await services.set_rules(request.user, team, body.max_discount, body.won_amount_limit)  # type: ignore[attr-defined]


class DealHistoryController(Controller):
    path = "/api/v1/deals/{record_id:uuid}/history"
    tags = ["approvals"]
    guards = [requires_login]

    @get("/", operation_id="deal_history")
    async def history(self, request: Request, record_id: uuid.UUID) -> schemas.HistoryPage:
        # Only someone who may see the deal reads its trail; anyone else gets the same 404.
        await RecordService(KINDS["deal"], request.user).get(str(record_id))
        return schemas.HistoryPage(items=await services.history(str(record_id)))


class TeamController(Controller):
    path = "/api/v1/users"
    tags = ["accounts"]
    guards = [requires_login]

    @get("/", operation_id="list_users")
    async def list_users(self, request: Request) -> schemas.TeamPage:
        user = request.user
        query = User.select(User.id, User.name, User.role, User.team).where(User.active == True).order_by(User.name)  # noqa: E712
        if not user.is_admin:
            # Admins sign off on deals too, so a team's phones know their names.
            query = query.where((User.team == user.team) | (User.role == "admin"))
        return schemas.TeamPage(items=[msgspec.convert(row, schemas.TeamMember) for row in await query])
