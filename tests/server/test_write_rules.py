"""check_write's rules are tied to a known set of fields per record type (crm.services.ruled_fields):
a sync push checks only those, so a rule on any other field would silently never run."""

from __future__ import annotations

import uuid

from server.domain.crm.services import KINDS, check_write, ruled_fields
from tests.server.conftest import Env


def test_only_ruled_fields_can_break_a_write_rule(env: Env) -> None:
    users = env.world.users
    rep = users["rep"]
    # Every value a rep is refused somewhere: another team, another rep, records that do not
    # exist, discounts and wins over the limits, forged decisions.
    hostile = {
        "team": env.world.south,
        "owner": users["rep2"].id,
        "assignee": users["rep_south"].id,
        "company": str(uuid.uuid4()),
        "contact": str(uuid.uuid4()),
        "deal": str(uuid.uuid4()),
        "related_type": "deal",
        "related_id": None,
        "stage": "won",
        "amount": 10**9,
        "discount": 99,
        "changes": {"owner": 1},
        "status": "stale",
        "decided_by": users["manager"].id,
    }

    async def work() -> None:
        for kind in KINDS.values():
            values = {**kind.defaults, **{k: v for k, v in hostile.items() if k in kind.field_names}}
            for name in kind.field_names:
                errors = await check_write(kind, rep, values, [name])
                if name in ruled_fields(kind.name):
                    assert errors, f"{kind.name}.{name}: the hostile value should break a rule"
                else:
                    assert errors == [], f"{kind.name}.{name} broke a rule but is not in ruled_fields"

    env.call(work)
