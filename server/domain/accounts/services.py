"""Accounts: password hashing, users, server-side sessions and login throttling."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.db import fetch
from server.domain.accounts.tables import ROLES, LoginFailure, Team, User, UserSession
from server.settings import SecuritySettings

_hasher = PasswordHasher()
#: Verified against when the e-mail is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user as the request sees it; what visibility and write rules read."""

    id: int
    email: str
    name: str
    role: str
    team: int | None
    team_name: str | None
    #: Sequence number of the user's latest team move (0: never moved).
    moved_seq: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # argon2 is deliberately slow; keep it off the event loop.
    return await asyncio.to_thread(check)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserError(ValueError):
    """A user could not be created or changed; the message says why."""


async def get_or_create_team(name: str) -> int:
    row = await Team.select(Team.id).where(Team.name == name).first()
    if row:
        return row["id"]
    team = Team(name=name)
    await team.save()
    return team.id


async def add_user(email: str, password: str, role: str, team: str | None, name: str | None = None) -> int:
    email = email.strip().lower()
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if role != "admin" and not team:
        raise UserError(f"a {role} needs a team")
    if len(password) < 8:
        raise UserError("the password needs at least 8 characters")
    if await User.exists().where(User.email == email):
        raise UserError(f"a user with e-mail {email} already exists")
    team_id = await get_or_create_team(team) if team else None
    user = User(
        email=email,
        name=name or email.split("@")[0].replace(".", " ").title(),
        role=role,
        team=team_id,
        password_hash=await asyncio.to_thread(hash_password, password),
        created_at=now(),
    )
    await user.save()
    return user.id


async def _recent_failures(key: str, settings: SecuritySettings) -> int:
    since = now() - dt.timedelta(seconds=settings.login_window_seconds)
    return await LoginFailure.count().where((LoginFailure.key == key) & (LoginFailure.at > since))


def _account_key(email: str) -> str:
    """The throttle's key for an account: the e-mail as sign-in reads it (so " Rep@x" counts
    against rep@x), hashed to a fixed length (lower-casing can double a text's length)."""
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


async def login_throttled(email: str, address: str, settings: SecuritySettings) -> bool:
    """Too many recent failures for this account or from this address."""
    for key in (_account_key(email), f"ip:{address}"):
        if await _recent_failures(key, settings) >= settings.login_failures:
            return True
    return False


async def authenticate(email: str, password: str, address: str, settings: SecuritySettings) -> int | None:
    """The user id for a correct e-mail and password; a failure is recorded for throttling."""
    email = email.strip().lower()
    row = await User.select(User.id, User.password_hash).where((User.email == email) & (User.active == True)).first()  # noqa: E712
    ok = await verify_password(row["password_hash"] if row else _DUMMY_HASH, password)
    if row and ok:
        return row["id"]
    at = now()
    await LoginFailure.insert(LoginFailure(key=_account_key(email), at=at), LoginFailure(key=f"ip:{address}", at=at))
    # Old failures are no use to anyone; drop them while we are here.
    await LoginFailure.delete().where(LoginFailure.at < at - dt.timedelta(seconds=settings.login_window_seconds))
    return None


async def start_session(user_id: int, settings: SecuritySettings) -> str:
    token = secrets.token_urlsafe(32)
    at = now()
    await UserSession.insert(
        UserSession(
            token_hash=_token_hash(token),
            user=user_id,
            created_at=at,
            expires_at=at + dt.timedelta(days=settings.session_days),
        )
    )
    return token


async def end_session(token: str) -> None:
    await UserSession.delete().where(UserSession.token_hash == _token_hash(token))


async def user_for_session(token: str) -> CurrentUser | None:
    # Every signed-in request asks this: SQL sent as it is, not through a Piccolo query.
    rows = await fetch(
        UserSession._meta.db,
        "SELECT u.id, u.email, u.name, u.role, u.team, t.name AS team_name, u.moved_seq"
        ' FROM user_session s JOIN app_user u ON u.id = s."user"'
        " LEFT JOIN team t ON t.id = u.team"
        " WHERE s.token_hash = {} AND s.expires_at > {} AND u.active",
        _token_hash(token),
        now(),
    )
    if not rows:
        return None
    r = rows[0]
    return CurrentUser(r["id"], r["email"], r["name"], r["role"], r["team"], r["team_name"], int(r["moved_seq"]))


async def user_by_id(user_id: int) -> CurrentUser | None:
    rows = await User.raw(
        "SELECT u.id, u.email, u.name, u.role, u.team, t.name AS team_name, u.moved_seq"
        " FROM app_user u LEFT JOIN team t ON t.id = u.team WHERE u.id = {}",
        user_id,
    )
    if not rows:
        return None
    r = rows[0]
    return CurrentUser(r["id"], r["email"], r["name"], r["role"], r["team"], r["team_name"], int(r["moved_seq"]))
