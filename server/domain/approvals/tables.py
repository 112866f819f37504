"""Tables of the approvals domain: each team's rules and every deal's audit trail."""

from decimal import Decimal

from piccolo.columns import UUID, BigInt, ForeignKey, Integer, Numeric, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from server.domain.accounts.tables import Team, User

DEFAULT_MAX_DISCOUNT = Decimal("15")
DEFAULT_WON_AMOUNT_LIMIT = Decimal("50000")


class TeamRule(Table, tablename="team_rule"):
    """What a rep of the team may do without a manager's approval. A team without a row has the defaults."""

    id = Serial(primary_key=True)
    team = ForeignKey(references=Team, on_delete=OnDelete.cascade, unique=True)
    #: The largest discount, in percent, a rep may give.
    max_discount = Numeric(digits=(5, 2), default=DEFAULT_MAX_DISCOUNT)
    #: Closing a deal as won above this amount needs approval.
    won_amount_limit = Numeric(digits=(14, 2), default=DEFAULT_WON_AMOUNT_LIMIT)
    updated_at = Timestamptz(default=TimestamptzNow())
    updated_by = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)


class DealEvent(Table, tablename="deal_event"):
    """One change of a deal's stage, amount or discount, or one decision on it: the audit trail."""

    id = Serial(primary_key=True)
    deal = UUID(index=True)
    seq = BigInt()  #: the change that made it, so the trail reads in commit order
    at = Timestamptz()
    #: "stage", "amount", "discount", or "approval" for a decision.
    field = Varchar(length=32)
    old = Text(null=True, default=None)  #: JSON
    new = Text(null=True, default=None)  #: JSON
    #: The replica whose edit it was ("s": the server, for the web app and applied approvals).
    replica = Varchar(length=64)
    #: Who made the request that wrote it.
    user = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    comment = Text(default="")
    #: The writer's clock (ms) and the edit's counter, from the sibling that wrote the value.
    edit_t = BigInt(default=0)
    counter = BigInt(default=0)
    #: For a decision: the approval decided.
    approval = UUID(null=True, default=None)
