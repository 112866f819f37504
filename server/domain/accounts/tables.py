"""Tables of the accounts domain."""

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

ROLES = ("rep", "manager", "admin")


class Team(Table, tablename="team"):
    id = Serial(primary_key=True)
    name = Varchar(length=100, unique=True)


class User(Table, tablename="app_user"):
    id = Serial(primary_key=True)
    email = Varchar(length=320, unique=True)  #: stored lower-cased
    name = Varchar(length=200)
    role = Varchar(length=16, index=True)  #: one of ROLES
    #: Admins may have no team; reps and managers always have one.
    team = ForeignKey(references=Team, null=True, on_delete=OnDelete.restrict, index=True)
    password_hash = Varchar(length=256)  #: argon2id, with its parameters
    active = Boolean(default=True)
    created_at = Timestamptz()
    #: Change sequence number of the user's latest team move (0: never moved); a pull cursor
    #: from before it starts the phone over, since what the user may see has changed wholesale.
    moved_seq = BigInt(default=0)


class Device(Table, tablename="device"):
    """One local database on a phone: a sync replica. Rows are never deleted, so ids never recur."""

    id = Serial(primary_key=True)
    replica = Varchar(length=64, unique=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100, default="")
    created_at = Timestamptz()
    last_seen_at = Timestamptz(null=True, default=None)


class UserSession(Table, tablename="user_session"):
    """A server-side login session; the cookie carries a token whose SHA-256 is the key."""

    token_hash = Varchar(length=64, primary_key=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)


class LoginFailure(Table, tablename="login_failure"):
    """A failed login, counted per account and per client address for throttling."""

    id = Serial(primary_key=True)
    key = Varchar(length=400, index=True)  #: "email:<sha256 of the address>" or "ip:<address>"
    at = Timestamptz(index=True)



class TeamMove(Table, tablename="team_move"):
    """A user moved from one team to another: what their phones must drop on the next pull."""

    id = Serial(primary_key=True)
    seq = BigInt(index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    old_team = Integer(null=True, default=None)
    new_team = Integer(null=True, default=None)
