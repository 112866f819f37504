"""Wire shapes of the accounts domain."""

from typing import Annotated, Literal

import msgspec

#: Phones' keyboards add stray spaces; sign-in strips them rather than refusing.
Email = Annotated[
    str,
    msgspec.Meta(min_length=3, max_length=320, pattern=r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$", description="an e-mail address"),
]
Role = Literal["rep", "manager", "admin"]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class Me(msgspec.Struct):
    id: int
    email: str
    name: str
    role: Role
    team: int | None
    team_name: str | None
