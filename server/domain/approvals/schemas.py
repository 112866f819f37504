"""Wire shapes of the approvals API: team rules and the deal audit trail."""

from typing import Annotated, Any

from msgspec import Meta, Struct

from server.domain.crm.schemas import Money, Percent


class RulesUpdate(Struct, kw_only=True, forbid_unknown_fields=True):
    max_discount: Percent  #: the largest discount a rep may give without approval, in percent
    won_amount_limit: Money  #: closing a deal as won above this amount needs approval


class RulesPage(Struct):
    items: list[Any]


class HistoryPage(Struct):
    items: list[Any]


class TeamMember(Struct):
    id: int
    name: str
    role: str
    team: int | None


class TeamPage(Struct):
    items: Annotated[list[TeamMember], Meta(description="the people whose names the phone shows")]
