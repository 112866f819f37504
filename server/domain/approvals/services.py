"""Approval rules, decisions bound to the deal's version, pushes both ways, and the deal audit trail.

The CRM store calls `check` for every deal or approval write (REST and sync alike) and `stored`
after it has stored one, inside the same transaction; so the rules hold whoever writes. (The
store imports this module inside those calls, so this one may import the store at the top.)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

import msgspec

import sync
from server.db import current_write
from server.domain.accounts.services import CurrentUser
from server.domain.accounts.tables import Team, User
from server.domain.approvals.tables import DEFAULT_MAX_DISCOUNT, DEFAULT_WON_AMOUNT_LIMIT, DealEvent, TeamRule
from server.domain.crm.schemas import DealUpdate
from server.domain.crm.services import KINDS, SERVER_REPLICA, NotVisible, decode_state, field_error, now_ms, store, team_of
from server.domain.push.services import notify_user

#: Deal fields an approval may ask to change, and the ones the audit trail follows.
REQUESTABLE = ("stage", "amount", "discount", "expected_close")
AUDITED = ("stage", "amount", "discount")
DECISIONS = ("approved", "rejected")
#: Statuses no write may leave.
FINAL = (*DECISIONS, "stale")


class Rules(msgspec.Struct):
    team: int
    team_name: str
    max_discount: str
    won_amount_limit: str


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except InvalidOperation:
        return None


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


async def rules_for(team: int | None) -> tuple[Decimal, Decimal]:
    if team is None:
        return DEFAULT_MAX_DISCOUNT, DEFAULT_WON_AMOUNT_LIMIT
    row = await TeamRule.select(TeamRule.max_discount, TeamRule.won_amount_limit).where(TeamRule.team == team).first()
    if row is None:
        return DEFAULT_MAX_DISCOUNT, DEFAULT_WON_AMOUNT_LIMIT
    return Decimal(row["max_discount"]), Decimal(row["won_amount_limit"])


async def list_rules(user: CurrentUser) -> list[Rules]:
    teams = Team.select(Team.id, Team.name).order_by(Team.name)
    if not user.is_admin:
        teams = teams.where(Team.id == user.team)
    out = []
    for team in await teams:
        discount, limit = await rules_for(team["id"])
        out.append(Rules(team=team["id"], team_name=team["name"], max_discount=_plain(discount), won_amount_limit=_plain(limit)))
    return out


async def set_rules(user: CurrentUser, team: int, max_discount: str, won_amount_limit: str) -> Rules:
    row = await Team.select(Team.name).where(Team.id == team).first()
    if row is None:
        raise NotVisible(str(team))
    values = {
        TeamRule.max_discount: Decimal(max_discount),
        TeamRule.won_amount_limit: Decimal(won_amount_limit),
        TeamRule.updated_at: dt.datetime.now(dt.timezone.utc),
        TeamRule.updated_by: user.id,
    }
    if await TeamRule.exists().where(TeamRule.team == team):
        await TeamRule.update(values).where(TeamRule.team == team)
    else:
        await TeamRule.insert(TeamRule(team=team, **{column._meta.name: value for column, value in values.items()}))
    discount, limit = await rules_for(team)
    return Rules(team=team, team_name=row["name"], max_discount=_plain(discount), won_amount_limit=_plain(limit))


# -- the rules, as the phone runs them too -------------------------------------------


def rule_errors(values: dict[str, Any], written: Iterable[str], max_discount: Decimal, won_limit: Decimal) -> list[tuple[str, str]]:
    """What a rep's write of `written` would break, the deal's visible values being `values`."""
    errors = []
    written = set(written)
    discount = _decimal(values.get("discount")) or Decimal(0)
    if "discount" in written and discount > max_discount:
        errors.append(("discount", f"a discount over {_plain(max_discount)} % needs a manager's approval: ask for one"))
    amount = _decimal(values.get("amount")) or Decimal(0)
    if written & {"stage", "amount"} and values.get("stage") == "won" and amount > won_limit:
        field = "stage" if "stage" in written else "amount"
        errors.append((field, f"closing a deal over {_plain(won_limit)} as won needs a manager's approval: ask for one"))
    return errors


async def _owner_team(user_id: Any) -> int | None:
    return (await team_of(user_id))[1] if isinstance(user_id, int) else None


#: The fields `check` has a rule for, per record type: writing only others breaks none.
RULED = {"deal": frozenset(AUDITED), "approval": frozenset({"changes", "status", "decided_by"})}


async def check(
    kind_name: str, user: CurrentUser, values: dict[str, Any], written: Iterable[str], before: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Errors of a deal or approval write by `user` under the approval rules; `before` are the
    record's visible values as stored before the write (None for a new record)."""
    written = set(written)
    if kind_name == "deal":
        if user.is_admin or user.is_manager or not (written & set(AUDITED)):
            return []
        max_discount, won_limit = await rules_for(await _owner_team(values.get("owner")) or user.team)
        return rule_errors(values, written, max_discount, won_limit)
    errors: list[tuple[str, str]] = []
    if "changes" in written:
        changes = values.get("changes") or {}
        unknown = sorted(set(changes) - set(REQUESTABLE))
        if unknown:
            errors.append(("changes", f"an approval may ask to change only {', '.join(REQUESTABLE)}, not {', '.join(unknown)}"))
        else:
            try:
                msgspec.convert(changes, type=DealUpdate, strict=True)
            except msgspec.ValidationError as error:
                field, message = field_error(error)
                errors.append(("changes", f"{field}: {message}"))
    status = values.get("status") or "pending"
    settled = None if before is None else before.get("status") or "pending"
    if "status" in written:
        if settled in FINAL and status != settled:
            # A decision is final, and a stale request stays stale: asking again is a new request.
            errors.append(("status", f"this request is already {settled}; ask for approval again with a new request"))
        elif status == "stale":
            errors.append(("status", "only the server marks an approval stale"))
        elif status in DECISIONS and not await may_decide(user, values.get("owner")):
            errors.append(("status", "only a manager of the rep's team, or an admin, may decide"))
    if "decided_by" in written and values.get("decided_by") not in (None, user.id):
        errors.append(("decided_by", "a decision is signed by whoever makes it"))
    return errors


async def may_decide(user: CurrentUser, requester: Any) -> bool:
    if user.is_admin:
        return True
    return user.is_manager and user.team is not None and await _owner_team(requester) == user.team


# -- after a deal or an approval is stored ----------------------------------------------


def _sibling(state: sync.Record, name: str) -> tuple[str, int, int]:
    siblings = state.fields.get(name) or []
    if not siblings:
        # A default nobody wrote: it came with the latest edit of the record.
        siblings = [s for field in state.fields.values() for s in field] or [(None, "s", 0, 0)]
    best = max(siblings, key=lambda s: (s[3], s[1], s[2]))
    return best[1], best[2], best[3]


async def _event(deal: str, field: str, old: Any, new: Any, state: sync.Record, source_field: str, *, comment: str = "", approval: str | None = None) -> None:
    tx = current_write()
    replica, counter, t = _sibling(state, source_field)
    actor = tx.notes.get("actor")
    await DealEvent.insert(
        DealEvent(
            deal=deal,
            seq=tx.seq,
            at=dt.datetime.now(dt.timezone.utc),
            field=field,
            old=None if old is None else msgspec.json.encode(old).decode(),
            new=None if new is None else msgspec.json.encode(new).decode(),
            replica=replica,
            user=actor.id if actor is not None else None,
            comment=comment,
            edit_t=t,
            counter=counter,
            approval=approval,
        )
    )


async def stored(kind_name: str, state: sync.Record, before: dict[str, Any] | None, values: dict[str, Any], deleted: bool) -> None:
    """Audit a deal's changes; act on an approval that was just asked for or decided."""
    if kind_name == "deal":
        # Fields never written read as their defaults (a new deal is a "lead"), as the API shows them.
        defaults = KINDS["deal"].defaults
        values = {**defaults, **values}
        before = None if before is None else {**defaults, **before}
        for name in AUDITED:
            old = None if before is None else before.get(name)
            if values.get(name) != old and not (before is None and values.get(name) is None):
                await _event(state.id, name, old, values.get(name), state, name)
        return
    if deleted:
        return
    # A status never written is the default, "pending".
    status = values.get("status") or "pending"
    old_status = None if before is None else before.get("status") or "pending"
    values = {**values, "status": status}
    if status == old_status:
        return
    if status == "pending":
        await _ask_managers(state.id, values)
    elif status in DECISIONS:
        await _decide(state, values, old_status)


async def _decide(approval: sync.Record, values: dict[str, Any], old_status: Any) -> None:
    """Apply a decision if the deal is as it was asked about; else the server marks it stale."""
    tx = current_write()
    deal_kind = KINDS["deal"]
    table = deal_kind.table
    row = await table.select(table.state, table.deleted).where(table.id == values.get("deal")).first()
    deal_state = decode_state(row["state"]) if row else None
    asked_on = values.get("deal_vv") or {}
    unchanged = (
        deal_state is not None
        and not row["deleted"]
        and sync.compare(deal_state.vv, asked_on) in (sync.Order.EQUAL, sync.Order.BEFORE)
    )
    await _event(values["deal"], "approval", old_status, values["status"], approval, "status", comment=values.get("comment") or "", approval=approval.id)
    if not unchanged:
        stale = sync.edit(approval, SERVER_REPLICA, {"status": "stale"}, now_ms())
        existed = {"state": msgspec.json.encode(approval).decode(), "known": approval}
        await store(KINDS["approval"], stale, tx, existed)
        # The trail says both: who decided, and that the server could not apply it.
        await _event(values["deal"], "approval", values["status"], "stale", stale, "status", comment="the deal changed after the request", approval=approval.id)
        await _tell_requester(approval.id, values, "stale", deal_state)
        return
    changes = values.get("changes") or {}
    if values["status"] == "approved" and changes:
        existed = {"state": row["state"], "known": deal_state}
        await store(deal_kind, sync.edit(deal_state, SERVER_REPLICA, dict(changes), now_ms()), tx, existed)
    await _tell_requester(approval.id, values, values["status"], deal_state)


def _deal_title(deal_state: sync.Record | None) -> str:
    return (sync.visible(deal_state).get("title") if deal_state else None) or "a deal"


async def _ask_managers(approval_id: str, values: dict[str, Any]) -> None:
    team = await _owner_team(values.get("owner"))
    requester = await User.select(User.name).where(User.id == values.get("owner")).first()
    table = KINDS["deal"].table
    row = await table.select(table.state).where(table.id == values.get("deal")).first()
    title = _deal_title(decode_state(row["state"]) if row else None)
    managers = await User.select(User.id).where((User.team == team) & (User.role == "manager") & (User.active == True))  # noqa: E712
    body = f"{requester['name'] if requester else 'A rep'} asks: {values.get('reason') or 'please approve'}"
    payload = {
        "type": "approval",
        "title": f"Approval asked: {title}",
        "body": body[:300],
        "url": f"/#/approvals/{approval_id}",
        "tag": f"approval:{approval_id}",
        "record": {"type": "approval", "id": approval_id},
        "actions": [{"action": "approve", "title": "Approve"}, {"action": "reject", "title": "Reject"}],
    }
    for manager in managers:
        await notify_user(manager["id"], payload, key=f"approval:{approval_id}:{manager['id']}", urgency="high")


async def _tell_requester(approval_id: str, values: dict[str, Any], outcome: str, deal_state: sync.Record | None) -> None:
    words = {"approved": "Approved", "rejected": "Rejected", "stale": "Ask again"}[outcome]
    body = values.get("comment") or ("The deal changed after you asked; ask again." if outcome == "stale" else "")
    payload = {
        "type": "approval-decision",
        "title": f"{words}: {_deal_title(deal_state)}",
        "body": body[:300],
        "url": f"/#/deals/{values.get('deal')}",
        "tag": f"approval:{approval_id}",
        "record": {"type": "deal", "id": values.get("deal")},
    }
    await notify_user(values["owner"], payload, key=f"decision:{approval_id}", urgency="high")


# -- the audit trail ------------------------------------------------------------------------


class DealEventOut(msgspec.Struct):
    at: str
    field: str
    old: Any
    new: Any
    replica: str
    user: int | None
    user_name: str | None
    comment: str
    approval: str | None


async def history(deal_id: str) -> list[DealEventOut]:
    rows = await DealEvent.select(
        DealEvent.at, DealEvent.field, DealEvent.old, DealEvent.new, DealEvent.replica, DealEvent.user,
        DealEvent.user.name.as_alias("user_name"), DealEvent.comment, DealEvent.approval,
    ).where(DealEvent.deal == deal_id).order_by(DealEvent.seq).order_by(DealEvent.id)
    return [
        DealEventOut(
            at=r["at"].isoformat() if hasattr(r["at"], "isoformat") else str(r["at"]),
            field=r["field"],
            old=None if r["old"] is None else msgspec.json.decode(r["old"]),
            new=None if r["new"] is None else msgspec.json.decode(r["new"]),
            replica=r["replica"],
            user=r["user"],
            user_name=r["user_name"],
            comment=r["comment"],
            approval=str(r["approval"]) if r["approval"] else None,
        )
        for r in rows
    ]
