"""The sync wire format of SYNC.md as msgspec Structs: decoding validates it."""

from typing import Annotated, Any, Literal, get_args

from msgspec import Meta, Struct

# Python's `$` also matches before a final "\n"; the lookahead shuts that out
# and keeps the pattern a valid ECMAScript regex for the OpenAPI schema.
REPLICA_PATTERN = r"^[A-Za-z0-9_-]{1,64}(?!\n)$"
FIELD_PATTERN = r"^[a-z0-9_]{1,64}(?!\n)$"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?!\n)$"

#: Counters and times must survive a round trip through a JavaScript number.
MAX_SAFE_INTEGER = 2**53 - 1

RecordType = Literal["company", "contact", "deal", "activity", "task", "approval"]
RECORD_TYPES: tuple[str, ...] = get_args(RecordType)

ReplicaId = Annotated[str, Meta(pattern=REPLICA_PATTERN)]
FieldName = Annotated[str, Meta(pattern=FIELD_PATTERN)]
RecordId = Annotated[str, Meta(pattern=UUID_PATTERN)]
Counter = Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)]
Millis = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]

#: One write of one field: (value, replica, counter, t). (replica, counter) is
#: the edit's dot; t is the writer's wall clock in ms, used only to pick the
#: visible value.
Sibling = tuple[Any, ReplicaId, Counter, Millis]


class Record(Struct, forbid_unknown_fields=True):
    """The whole state of one record, as pushed and pulled."""

    type: RecordType
    id: RecordId
    vv: dict[ReplicaId, Counter]
    fields: dict[FieldName, list[Sibling]]


class Ref(Struct):
    """Names a record without its state (pull's ``gone`` list)."""

    type: RecordType
    id: RecordId


class PushBody(Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/sync/push``."""

    replica: ReplicaId
    records: Annotated[list[Record], Meta(max_length=1000)]


class FieldError(Struct):
    """Why one field of a pushed record was rejected."""

    field: str
    message: str


class PushResult(Struct, omit_defaults=True):
    """The outcome for one pushed record, in the order they were pushed."""

    type: RecordType
    id: RecordId
    status: Literal["ok", "rejected"]
    record: Record | None = None
    errors: list[FieldError] | None = None


class PushResponse(Struct):
    """Answer of ``POST /api/v1/sync/push``."""

    results: list[PushResult]


class PullPage(Struct):
    """Answer of ``GET /api/v1/sync/pull``."""

    records: list[Record]
    gone: list[Ref]
    cursor: str
    more: bool


class DeviceCreate(Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/sync/devices``."""

    name: Annotated[str, Meta(max_length=100)] | None = None


class DeviceCreated(Struct):
    """Answer of ``POST /api/v1/sync/devices``: the new replica id."""

    replica: str


__all__ = [
    "MAX_SAFE_INTEGER",
    "RECORD_TYPES",
    "DeviceCreate",
    "DeviceCreated",
    "FieldError",
    "PullPage",
    "PushBody",
    "PushResponse",
    "PushResult",
    "Record",
    "RecordType",
    "Ref",
    "Sibling",
]
