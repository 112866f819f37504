"""decode_push_body gives exactly what the strict msgspec decode of PushBody gives, errors included."""

import msgspec
import pytest

import sync

A = "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e"
B = "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6f"


def _record(**change):
    record = {
        "type": "contact",
        "id": A,
        "vv": {"d7f3a2": 2, "s": 1},
        "fields": {"name": [["Ada", "d7f3a2", 1, 1763800000000], ["Ada L.", "s", 1, 1763800000001]], "deleted": [[None, "d7f3a2", 2, 5]]},
    }
    record.update(change)
    return record


def _strict(data: bytes):
    try:
        return msgspec.json.decode(data, type=sync.PushBody, strict=True)
    except msgspec.DecodeError as error:
        return (type(error), str(error))


def _fast(data: bytes):
    try:
        return sync.decode_push_body(data)
    except msgspec.DecodeError as error:
        return (type(error), str(error))


BODIES = {
    "valid": {"replica": "d7f3a2", "records": [_record(), _record(id=B)]},
    "empty": {"replica": "d7f3a2", "records": []},
    "bad replica": {"replica": "d7 f3", "records": [_record()]},
    "replica with newline": {"replica": "d7f3a2\n", "records": [_record()]},
    "bad id": {"replica": "d7f3a2", "records": [_record(), _record(id=A.upper())]},
    "bad vv key": {"replica": "d7f3a2", "records": [_record(vv={"d7 f3": 1})]},
    "bad field name": {"replica": "d7f3a2", "records": [_record(fields={"Name": [["x", "d7f3a2", 1, 1]]})]},
    "bad sibling replica": {"replica": "d7f3a2", "records": [_record(fields={"name": [["x", "", 1, 1]]})]},
    # A pattern error early and a type error later: the strict decode names the first.
    "two errors": {"replica": "d7f3a2", "records": [_record(id="nope"), _record(vv={"s": 0})]},
    "zero counter": {"replica": "d7f3a2", "records": [_record(vv={"s": 0})]},
    "unknown type": {"replica": "d7f3a2", "records": [_record(type="lead")]},
    "unknown key": {"replica": "d7f3a2", "records": [_record(extra=1)]},
    "string counter": {"replica": "d7f3a2", "records": [_record(fields={"name": [["x", "s", "1", 1]]})]},
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_decode_push_body_agrees_with_the_strict_decode(name: str) -> None:
    data = msgspec.json.encode(BODIES[name])
    assert _fast(data) == _strict(data)


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"replica": "x", "records": [', b'{"replica": "x"}', b"null"])
def test_decode_push_body_agrees_on_malformed_json(data: bytes) -> None:
    assert _fast(data) == _strict(data)


def test_decode_push_body_gives_wire_records() -> None:
    body = sync.decode_push_body(msgspec.json.encode(BODIES["valid"]))
    assert type(body) is sync.PushBody and all(type(r) is sync.Record for r in body.records)
    assert body == msgspec.json.decode(msgspec.json.encode(BODIES["valid"]), type=sync.PushBody)
