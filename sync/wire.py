"""The sync wire format of SYNC.md as msgspec Structs: decoding validates it."""

import re
from typing import Annotated, Any, Literal, get_args

import msgspec
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


class _UncheckedRecord(Struct, forbid_unknown_fields=True):
    """Record with every constraint but the string patterns."""

    type: RecordType
    id: str
    vv: dict[str, Counter]
    fields: dict[str, list[tuple[Any, str, Counter, Millis]]]


class _UncheckedPushBody(Struct, forbid_unknown_fields=True):
    replica: str
    records: Annotated[list[_UncheckedRecord], Meta(max_length=1000)]


_REPLICA = re.compile(REPLICA_PATTERN)
_FIELD = re.compile(FIELD_PATTERN)
_UUID = re.compile(UUID_PATTERN)


def _patterns_hold(body: _UncheckedPushBody) -> bool:
    replicas: set[str] = set()
    names: set[str] = set()
    ids: list[str] = [r.id for r in body.records]
    replicas.add(body.replica)
    for record in body.records:
        replicas.update(record.vv)
        for name, siblings in record.fields.items():
            names.add(name)
            for sibling in siblings:
                replicas.add(sibling[1])
    return (
        all(_REPLICA.search(r) for r in replicas)
        and all(_FIELD.search(n) for n in names)
        and all(_UUID.search(i) for i in ids)
    )


def decode_push_body(data: bytes) -> PushBody:
    """`msgspec.json.decode(data, type=PushBody, strict=True)`, same result and same errors.

    Matching the string patterns is most of that decode, and a body repeats the same few
    replica ids and field names thousands of times: here each distinct string is matched
    once. Any body that fails is decoded again the strict way, which raises its usual error.
    """
    try:
        body = msgspec.json.decode(data, type=_UncheckedPushBody, strict=True)
    except msgspec.DecodeError:
        body = None
    if body is None or not _patterns_hold(body):
        return msgspec.json.decode(data, type=PushBody, strict=True)
    return PushBody(
        replica=body.replica,
        records=[Record(type=r.type, id=r.id, vv=r.vv, fields=r.fields) for r in body.records],
    )


class DeviceCreate(Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/sync/devices``."""

    name: Annotated[str, Meta(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] | None = None  #: no control characters


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
    "decode_push_body",
]
