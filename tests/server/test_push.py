"""Web push: the key, subscriptions, task reminders and the dispatcher, against a decrypting receiver."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.middleware.csrf import generate_csrf_token
from litestar.testing import TestClient
from py_vapid import Vapid

from server import db
from server.app import create_app, engine_for
from server.db import raw
from server.domain.accounts import services as accounts
from server.domain.crm import schemas as crm_schemas
from server.domain.crm.services import KINDS, RecordService, FieldErrors
from server.domain.push import services
from server.domain.push.worker import Worker
from server.settings import DatabaseSettings, PushSettings, Settings, from_env
from tests.server.conftest import Api, Env, _make_world, run
from tests.server.push_receiver import PushReceiver

#: Fast retries; http:// endpoints allowed on loopback, where the receiver listens.
PUSH = PushSettings(allow_loopback_http=True, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5.0)
FIELDBOOK = str(Path(sys.executable).with_name("fieldbook"))


@pytest.fixture
def env(database: Settings) -> Iterator[Env]:
    """The conftest `env`, with push settings a local receiver can work with."""
    settings = dataclasses.replace(database, push=PUSH)
    engine = engine_for(settings)

    async def setup() -> tuple[Any, dict[str, str]]:
        world = await _make_world()
        return world, {k: await accounts.start_session(u.id, settings.security) for k, u in world.users.items()}

    world, tokens = run(engine, setup)
    with TestClient(create_app(settings)) as client:
        csrf = generate_csrf_token(settings.security.secret_key)
        yield Env(settings=settings, client=client, world=world, apis={k: Api(client, t, csrf) for k, t in tokens.items()})


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    with PushReceiver(services.public_key(PUSH)) as rx:
        yield rx
    assert rx.errors == [], rx.errors


def _iso(delta: dt.timedelta) -> str:
    return (dt.datetime.now(dt.timezone.utc) + delta).isoformat().replace("+00:00", "Z")


PAST = dt.timedelta(minutes=-1)
LATER = dt.timedelta(hours=1)


def _device(api: Api, name: str = "phone") -> str:
    response = api.post("/api/v1/sync/devices", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["replica"]


def _subscribe(api: Api, receiver: PushReceiver, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """A new device of this user, subscribed at the receiver: (replica, subscription)."""
    replica = _device(api)
    subscription = receiver.subscribe(name)
    response = api.post("/api/v1/push/subscriptions", json={**subscription, "replica": replica})
    assert response.status_code == 201, response.text
    return replica, subscription


def _work(env: Env, push: PushSettings = PUSH) -> int:
    return env.call(lambda: Worker(push, engine_for(env.settings)).run_once())


def _rows(env: Env, sql: str, *args: Any) -> list[dict]:
    return [dict(r) for r in env.call(lambda: raw(engine_for(env.settings), sql, *args))]


def _task(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/v1/tasks", json={"title": "Call Ada back", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _pushed_tasks(receiver: PushReceiver, endpoint: str) -> list[str]:
    return [r.payload["record"]["id"] for r in receiver.for_(endpoint) if r.answered == 201]


# -- the key and subscriptions ---------------------------------------------------------------


def test_the_vapid_public_key_is_served_to_signed_in_users(env: Env) -> None:
    assert env.anonymous().get("/api/v1/push/key").status_code == 401
    key = env.as_("rep").get("/api/v1/push/key").json()["public_key"]
    assert key == services.public_key(PUSH)
    assert len(services.b64url_decode(key)) == 65 and services.b64url_decode(key)[0] == 4


def test_a_subscription_is_stored_per_device_replaced_and_deleted(env: Env, receiver: PushReceiver) -> None:
    rep = env.as_("rep")
    replica = _device(rep)
    first, second = receiver.subscribe(), receiver.subscribe()
    made = rep.post("/api/v1/push/subscriptions", json={**first, "replica": replica}, headers={"user-agent": "Pixel 8 Chrome"})
    assert made.status_code == 201, made.text
    assert made.json()["user_agent"] == "Pixel 8 Chrome" and made.json()["replica"] == replica
    assert made.json()["created_at"]
    again = rep.post("/api/v1/push/subscriptions", json={**second, "replica": replica})
    assert again.status_code == 201
    rows = _rows(env, "SELECT endpoint, p256dh, auth FROM push_subscription")
    assert rows == [{"endpoint": second["endpoint"], "p256dh": second["keys"]["p256dh"], "auth": second["keys"]["auth"]}]
    # The same browser under a new replica (the phone started over): the endpoint moves with it.
    other = _device(rep, "same phone, new replica")
    assert rep.post("/api/v1/push/subscriptions", json={**second, "replica": other}).status_code == 201
    assert [r["endpoint"] for r in _rows(env, "SELECT endpoint FROM push_subscription")] == [second["endpoint"]]
    assert rep.delete(f"/api/v1/push/subscriptions?replica={other}").status_code == 204
    assert _rows(env, "SELECT id FROM push_subscription") == []
    assert rep.delete(f"/api/v1/push/subscriptions?replica={other}").status_code == 204  # idempotent


def _bad_bodies(receiver: PushReceiver, replica: str, others: str) -> list[tuple[Any, str]]:
    good = {**receiver.subscribe(), "replica": replica}
    keys = good["keys"]
    # One changed character of y: a point that is not on the curve.
    off_curve = keys["p256dh"][:60] + ("A" if keys["p256dh"][60] != "A" else "B") + keys["p256dh"][61:]
    return [
        ({**good, "endpoint": "http://push.example.com/x"}, "endpoint"),
        ({**good, "endpoint": "ftp://push.example.com/x"}, "endpoint"),
        ({**good, "endpoint": "https:///nohost"}, "endpoint"),
        ({**good, "endpoint": "https://user:pw@push.example.com/x"}, "endpoint"),
        ({**good, "endpoint": "https://push.exam\u0000ple.com/x"}, "endpoint"),
        ({**good, "endpoint": "https://push.example.com/a b"}, "endpoint"),
        ({**good, "endpoint": "https://push.example.com:0/x"}, "endpoint"),
        ({**good, "endpoint": 42}, "endpoint"),
        ({**good, "keys": {**keys, "p256dh": keys["p256dh"][:-4]}}, "keys.p256dh"),
        ({**good, "keys": {**keys, "p256dh": off_curve}}, "keys.p256dh"),
        ({**good, "keys": {**keys, "auth": "short"}}, "keys.auth"),
        ({**good, "keys": {"p256dh": keys["p256dh"]}}, "keys.auth"),
        ({k: v for k, v in good.items() if k != "keys"}, "keys"),
        ({k: v for k, v in good.items() if k != "replica"}, "replica"),
        ({**good, "replica": "no-such-replica"}, "replica"),
        ({**good, "replica": others}, "replica"),
        ({**good, "colour": "red"}, "colour"),
        ([good], "body"),
    ]


def test_bad_subscriptions_are_a_400_naming_the_field_and_store_nothing(env: Env, receiver: PushReceiver) -> None:
    rep = env.as_("rep")
    mine, others = _device(rep), _device(env.as_("rep2"))
    for body, field in _bad_bodies(receiver, mine, others):
        response = rep.post("/api/v1/push/subscriptions", json=body)
        assert response.status_code == 400, (body, response.text)
        assert field in {e["key"] for e in response.json()["extra"]}, (field, response.text)
    not_json = rep.post("/api/v1/push/subscriptions", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["extra"][0]["key"] == "body"
    gone = rep.delete(f"/api/v1/push/subscriptions?replica={others}")
    assert gone.status_code == 400 and gone.json()["extra"][0]["key"] == "replica"
    assert _rows(env, "SELECT id FROM push_subscription") == []
    assert env.anonymous().post("/api/v1/push/subscriptions", json=_bad_bodies(receiver, mine, others)[0][0]).status_code == 401


def test_plain_http_endpoints_are_refused_unless_allowed_for_loopback() -> None:
    strict = PushSettings()
    with pytest.raises(FieldErrors):
        services.check_endpoint("http://127.0.0.1:8000/push/a", strict)
    services.check_endpoint("http://127.0.0.1:8000/push/a", PUSH)
    services.check_endpoint("https://fcm.googleapis.com/fcm/send/abc", strict)
    with pytest.raises(FieldErrors):
        services.check_endpoint("http://10.0.0.1/push/a", PUSH)


# -- reminders -------------------------------------------------------------------------------


def test_a_due_reminder_is_pushed_to_each_subscription_of_the_assignee_with_its_content(env: Env, receiver: PushReceiver) -> None:
    _, phone = _subscribe(env.as_("rep2"), receiver)
    _, tablet = _subscribe(env.as_("rep2"), receiver)
    _, managers = _subscribe(env.as_("manager"), receiver)
    remind_at = _iso(PAST)
    task = _task(
        env.as_("manager"),
        assignee=env.world.users["rep2"].id,
        remind_at=remind_at,
        due_at=_iso(LATER),
        notes="Ask about the fleet renewal\nsecond line",
    )
    future = _task(env.as_("manager"), assignee=env.world.users["rep2"].id, remind_at=_iso(LATER))
    assert _work(env) == 1
    for endpoint in (phone["endpoint"], tablet["endpoint"]):
        [got] = receiver.for_(endpoint)
        assert got.payload == {
            "type": "reminder",
            "title": "Call Ada back",
            "body": "Ask about the fleet renewal",
            "url": f"/#/tasks/{task['id']}",
            "tag": f"task:{task['id']}",
            "record": {"type": "task", "id": task["id"]},
            "actions": [{"action": "done", "title": "Done"}, {"action": "snooze", "title": "Snooze 1 h", "minutes": 60}],
            "remind_at": task["remind_at"],
            "due_at": task["due_at"],
        }
        assert got.ttl == services.REMINDER_TTL_S and got.urgency == "high"
        assert got.claims["aud"] == receiver.origin and receiver.origin.rsplit(":", 1)[1] == str(receiver.port)
        assert got.claims["sub"] == PUSH.subject
    assert receiver.for_(managers["endpoint"]) == []
    assert future["id"] not in _pushed_tasks(receiver, phone["endpoint"])
    [message] = _rows(env, "SELECT id, status, sent_ms FROM push_message WHERE status <> 'pending'")
    assert message["status"] == "sent" and message["sent_ms"]
    attempts = _rows(env, "SELECT outcome, http_status, attempt FROM push_attempt WHERE message = {}", message["id"])
    assert attempts == [{"outcome": "delivered", "http_status": 201, "attempt": 1}] * 2
    assert _work(env) == 0 and len(receiver.received) == 2  # sent once, not again


def test_the_vapid_header_is_signed_once_per_push_service_and_renewed_before_it_expires(receiver: PushReceiver) -> None:
    clock = [1_900_000_000.0]
    claims_given: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []  #: what each signing was given, as given
    signer = services.vapid(PUSH.vapid_private_key)

    class Spy:
        def sign(self, claims: dict[str, Any]) -> dict[str, str]:
            claims_given.append(claims)
            seen.append(dict(claims))
            header = signer.sign(claims)
            claims["exp"] = 0  # a signer that writes into its dict changes no other header
            return header

    headers = services.VapidHeaders(Spy(), PUSH.subject, clock=lambda: clock[0])  # type: ignore[arg-type]
    here, there = "http://127.0.0.1:8001", "https://push.example.net"
    first = headers.authorization(here)
    assert headers.authorization(here) is first and headers.signed == 1  # reused
    assert headers.authorization(there) != first and headers.signed == 2  # one per audience, port and all
    assert [c["aud"] for c in claims_given] == [here, there]
    assert claims_given[0] is not claims_given[1]  # a fresh dict for every signing
    exp = int(clock[0]) + services.VAPID_LIFETIME_S
    clock[0] = exp - services.VAPID_RENEW_BEFORE_S - 1
    assert headers.authorization(here) is first and headers.signed == 2
    clock[0] = exp - services.VAPID_RENEW_BEFORE_S
    renewed = headers.authorization(here)
    assert renewed != first and headers.signed == 3
    assert seen[2] == {"sub": PUSH.subject, "aud": here, "exp": int(clock[0]) + services.VAPID_LIFETIME_S}
    token = renewed.split("t=", 1)[1].split(",", 1)[0]
    assert json.loads(services.b64url_decode(token.split(".")[1])) == seen[2]  # what was signed


def test_each_push_service_gets_a_header_for_its_own_origin(env: Env, receiver: PushReceiver) -> None:
    """One worker, two push services on two ports: each push carries its own service's aud."""
    with PushReceiver(services.public_key(PUSH)) as other:
        _, here = _subscribe(env.as_("rep"), receiver)
        _, there = _subscribe(env.as_("rep"), other)
        for _ in range(3):
            _task(env.as_("rep"), remind_at=_iso(PAST))
        assert _work(env) == 3
        for rx, sub in ((receiver, here), (other, there)):
            got = rx.for_(sub["endpoint"])
            assert len(got) == 3 and all(r.answered == 201 for r in got)
            assert {r.claims["aud"] for r in got} == {rx.origin}
            assert len({r.claims["exp"] for r in got}) == 1  # one signed header served every push
            assert all(0 < r.claims["exp"] - r.at <= services.VAPID_LIFETIME_S for r in got)
    assert other.errors == [], other.errors
    assert receiver.port != other.port


def test_429_500_and_timeouts_are_retried_with_backoff_then_delivered(env: Env, receiver: PushReceiver) -> None:
    _, sub = _subscribe(env.as_("rep"), receiver)
    receiver.answer(sub["endpoint"], (429, {"Retry-After": "0"}), 500, 503)
    task = _task(env.as_("rep"), remind_at=_iso(PAST))
    _work(env)
    assert [r.answered for r in receiver.for_(sub["endpoint"])] == [429, 500, 503, 201]
    assert _pushed_tasks(receiver, sub["endpoint"]) == [task["id"]]
    attempts = _rows(env, "SELECT attempt, http_status, outcome FROM push_attempt ORDER BY attempt")
    assert [(a["attempt"], a["http_status"], a["outcome"]) for a in attempts] == [
        (1, 429, "retry"), (2, 500, "retry"), (3, 503, "retry"), (4, 201, "delivered")
    ]
    # A push service that never answers in time is tried again, up to the limit.
    receiver.answer(sub["endpoint"], ("hang", 1.0))
    late = _task(env.as_("rep"), remind_at=_iso(PAST))
    _work(env, dataclasses.replace(PUSH, timeout_s=0.3))
    outcomes = _rows(env, "SELECT http_status, outcome FROM push_attempt WHERE message = (SELECT id FROM push_message WHERE key = {})", f"reminder:{late['id']}")
    assert [(o["http_status"], o["outcome"]) for o in outcomes] == [(None, "retry"), (201, "delivered")]


def test_a_push_service_failing_every_try_fails_the_message_after_max_attempts(env: Env, receiver: PushReceiver) -> None:
    _, sub = _subscribe(env.as_("rep"), receiver)
    receiver.answer(sub["endpoint"], *[500] * PUSH.max_attempts)
    _task(env.as_("rep"), remind_at=_iso(PAST))
    _work(env)
    assert len(receiver.for_(sub["endpoint"])) == PUSH.max_attempts
    assert [r["status"] for r in _rows(env, "SELECT status FROM push_message")] == ["failed"]
    assert [a["outcome"] for a in _rows(env, "SELECT outcome FROM push_attempt ORDER BY attempt")] == ["retry"] * (PUSH.max_attempts - 1) + ["failed"]
    assert len(_rows(env, "SELECT id FROM push_subscription")) == 1  # a 500 is not the subscription's fault


@pytest.mark.parametrize("status", [410, 404])
def test_a_gone_subscription_is_deleted_and_the_others_still_get_the_push(env: Env, receiver: PushReceiver, status: int) -> None:
    _, dead = _subscribe(env.as_("rep"), receiver)
    _, alive = _subscribe(env.as_("rep"), receiver)
    receiver.answer(dead["endpoint"], status)
    _task(env.as_("rep"), remind_at=_iso(PAST))
    _work(env)
    assert [r["endpoint"] for r in _rows(env, "SELECT endpoint FROM push_subscription")] == [alive["endpoint"]]
    assert len(receiver.for_(dead["endpoint"])) == 1  # no retry for a dead subscription
    assert len(_pushed_tasks(receiver, alive["endpoint"])) == 1
    outcomes = Counter((a["http_status"], a["outcome"]) for a in _rows(env, "SELECT http_status, outcome FROM push_attempt"))
    assert outcomes == Counter({(status, "gone"): 1, (201, "delivered"): 1})
    _task(env.as_("rep"), remind_at=_iso(PAST))
    _work(env)
    assert len(receiver.for_(dead["endpoint"])) == 1 and len(_pushed_tasks(receiver, alive["endpoint"])) == 2


def test_a_subscription_whose_key_cannot_be_used_fails_alone(env: Env, receiver: PushReceiver) -> None:
    _, good = _subscribe(env.as_("rep"), receiver)
    _, bad = _subscribe(env.as_("rep"), receiver)
    # Not a point on the curve: stored before keys were checked, say. Encryption fails.
    _rows(env, "UPDATE push_subscription SET p256dh = {} WHERE endpoint = {}", services.b64url(b"\x04" + b"\x01" * 64), bad["endpoint"])
    _task(env.as_("rep"), remind_at=_iso(PAST))
    _work(env)
    assert len(_pushed_tasks(receiver, good["endpoint"])) == 1 and receiver.for_(bad["endpoint"]) == []
    outcomes = Counter((a["http_status"], a["outcome"], a["attempt"]) for a in _rows(env, "SELECT http_status, outcome, attempt FROM push_attempt"))
    assert outcomes == Counter({(201, "delivered", 1): 1, (None, "failed", 1): 1})  # not retried
    assert [r["status"] for r in _rows(env, "SELECT status FROM push_message")] == ["sent"]


def test_rescheduling_reassigning_completing_and_deleting_tasks(env: Env, receiver: PushReceiver) -> None:
    rep, manager = env.as_("rep"), env.as_("manager")
    _, mine = _subscribe(rep, receiver)
    _, rep2s = _subscribe(env.as_("rep2"), receiver)
    later = _task(rep, remind_at=_iso(LATER))
    done = _task(rep, remind_at=_iso(PAST))
    deleted = _task(rep, remind_at=_iso(PAST))
    cleared = _task(rep, remind_at=_iso(PAST))
    moved = _task(manager, assignee=env.world.users["rep"].id, remind_at=_iso(PAST))
    stale = _task(rep, remind_at=_iso(dt.timedelta(days=-2)))
    assert rep.patch(f"/api/v1/tasks/{done['id']}", json={"done_at": _iso(PAST)}).status_code == 200
    assert rep.delete(f"/api/v1/tasks/{deleted['id']}").status_code == 204
    assert rep.patch(f"/api/v1/tasks/{cleared['id']}", json={"remind_at": None}).status_code == 200
    assert manager.patch(f"/api/v1/tasks/{moved['id']}", json={"assignee": env.world.users["rep2"].id}).status_code == 200
    _work(env)
    assert _pushed_tasks(receiver, mine["endpoint"]) == []
    assert _pushed_tasks(receiver, rep2s["endpoint"]) == [moved["id"]]
    assert {r["key"]: r["status"] for r in _rows(env, "SELECT key, status FROM push_message")} == {
        f"reminder:{later['id']}": "pending",
        f"reminder:{done['id']}": "cancelled",
        f"reminder:{deleted['id']}": "cancelled",
        f"reminder:{cleared['id']}": "cancelled",
        f"reminder:{moved['id']}": "sent",
        f"reminder:{stale['id']}": "expired",
    }
    # Moved earlier: sent now. An edit that leaves the time alone does not send it again;
    # a snooze (a new remind time) sends it once more; undoing "done" brings a reminder back.
    assert rep.patch(f"/api/v1/tasks/{later['id']}", json={"remind_at": _iso(PAST)}).status_code == 200
    _work(env)
    assert _pushed_tasks(receiver, mine["endpoint"]) == [later["id"]]
    assert rep.patch(f"/api/v1/tasks/{later['id']}", json={"title": "Call Ada back today"}).status_code == 200
    _work(env)
    assert _pushed_tasks(receiver, mine["endpoint"]) == [later["id"]]
    assert rep.patch(f"/api/v1/tasks/{later['id']}", json={"remind_at": _iso(dt.timedelta(seconds=-5))}).status_code == 200
    assert rep.patch(f"/api/v1/tasks/{done['id']}", json={"done_at": None}).status_code == 200
    _work(env)
    assert sorted(_pushed_tasks(receiver, mine["endpoint"])) == sorted([later["id"], later["id"], done["id"]])
    titles = [r.payload["title"] for r in receiver.for_(mine["endpoint"]) if r.payload["record"]["id"] == later["id"]]
    assert titles == ["Call Ada back", "Call Ada back today"]


def test_a_reminder_rescheduled_while_it_is_being_sent_is_sent_again_at_its_new_time(env: Env, receiver: PushReceiver) -> None:
    _, sub = _subscribe(env.as_("rep"), receiver)
    task = _task(env.as_("rep"), remind_at=_iso(PAST))
    engine = engine_for(env.settings)
    worker = Worker(PUSH, engine)
    token, claimed = env.call(worker.claim)
    assert len(claimed) == 1
    env.as_("rep").patch(f"/api/v1/tasks/{task['id']}", json={"remind_at": _iso(dt.timedelta(seconds=-1))})

    async def finish() -> None:
        from server.domain.push.sender import Sender

        async with Sender(PUSH) as sender:
            await worker.dispatch(sender, token, claimed)

    env.call(finish)
    assert [r["status"] for r in _rows(env, "SELECT status FROM push_message")] == ["pending"]
    _work(env)
    assert _pushed_tasks(receiver, sub["endpoint"]) == [task["id"], task["id"]]


# -- the dispatcher --------------------------------------------------------------------------


def test_two_workers_at_once_send_each_reminder_exactly_once(env: Env, receiver: PushReceiver) -> None:
    _, sub = _subscribe(env.as_("rep"), receiver)
    receiver.delay(sub["endpoint"], 0.005)  # so that both workers are mid-batch at once
    rep = env.world.users["rep"]
    count = 120

    async def make_tasks() -> list[str]:
        service = RecordService(KINDS["task"], rep)
        made = []
        for n in range(count):
            body = crm_schemas.TaskCreate(title=f"Follow-up {n}", remind_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=n))
            made.append((await service.create(body))["id"])
        return made

    task_ids = env.call(make_tasks)

    async def two_workers() -> list[int]:
        # Each worker has an engine of its own: separate SQLite connections, or a separate
        # PostgreSQL pool, as two worker processes would have.
        engines = [db.make_engine(env.settings.database) for _ in range(2)]
        for engine in engines:
            await db.start(engine)
        try:
            workers = [Worker(PUSH, engine, batch=7, name=f"w{n}") for n, engine in enumerate(engines)]
            return list(await asyncio.gather(*(w.run_once() for w in workers)))
        finally:
            for engine in engines:
                await db.stop(engine)

    handled = env.call(two_workers)
    assert sum(handled) == count and all(handled), handled  # both took part, neither took a row twice
    assert Counter(_pushed_tasks(receiver, sub["endpoint"])) == Counter({t: 1 for t in task_ids})
    assert len(receiver.received) == count
    statuses = Counter(r["status"] for r in _rows(env, "SELECT status FROM push_message"))
    assert statuses == Counter({"sent": count})
    assert len(_rows(env, "SELECT id FROM push_attempt WHERE outcome = 'delivered'")) == count


def test_a_crashed_workers_claim_is_taken_over_after_its_lease(env: Env, receiver: PushReceiver) -> None:
    _subscribe(env.as_("rep"), receiver)
    _task(env.as_("rep"), remind_at=_iso(PAST))
    engine = engine_for(env.settings)
    crashed, other = Worker(PUSH, engine, name="crashed"), Worker(PUSH, engine, name="other")
    _, taken = env.call(crashed.claim)
    assert len(taken) == 1
    assert env.call(other.claim)[1] == []  # still leased
    later = services.now_ms() + PUSH.lease_s * 1000 + 1
    assert [c.id for c in env.call(lambda: other.claim(later))[1]] == [taken[0].id]


def test_payloads_over_the_limit_are_refused_and_recorded(env: Env, receiver: PushReceiver) -> None:
    _, sub = _subscribe(env.as_("rep"), receiver)
    user = env.world.users["rep"].id
    fits = {"type": "x", "pad": "a" * (services.MAX_PAYLOAD_BYTES - len('{"type":"x","pad":""}'))}
    assert len(services.encode_payload(fits).encode()) == services.MAX_PAYLOAD_BYTES
    with pytest.raises(services.PayloadTooLarge):
        services.encode_payload({"type": "x", "pad": "a" * services.MAX_PAYLOAD_BYTES})
    env.call(lambda: services.notify_user(user, fits))
    big = json.dumps({"type": "x", "pad": "a" * 5000})
    _rows(env, "INSERT INTO push_message (recipient, payload, due_ms, ttl_s, urgency, status, lease_ms, created_ms) VALUES ({}, {}, {}, 60, 'normal', 'pending', 0, 0)", user, big, services.now_ms())
    _work(env)
    [delivered] = receiver.for_(sub["endpoint"])
    assert delivered.payload == fits  # the largest payload that fits does fit, encrypted, in 4,096 bytes
    assert Counter(r["status"] for r in _rows(env, "SELECT status FROM push_message")) == Counter({"sent": 1, "refused": 1})
    [refused] = _rows(env, "SELECT subscription, outcome, error FROM push_attempt WHERE outcome = 'refused'")
    assert refused["subscription"] is None and f"{len(big)} bytes" in refused["error"]


def test_a_user_without_subscriptions_is_recorded_as_such(env: Env, receiver: PushReceiver) -> None:
    _task(env.as_("rep"), remind_at=_iso(PAST))
    assert _work(env) == 1
    assert [r["status"] for r in _rows(env, "SELECT status FROM push_message")] == ["unsubscribed"]
    assert receiver.received == []


# -- the commands ----------------------------------------------------------------------------


def test_vapid_key_generated_once_into_the_data_folder_and_worker_once(
    tmp_path: Path, receiver: PushReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "VAPID_PRIVATE_KEY", "VAPID_SUBJECT"}}
    env["FIELDBOOK_DATA_DIR"] = str(tmp_path)
    fieldbook = lambda *args: subprocess.run([FIELDBOOK, *args], env=env, capture_output=True, text=True, timeout=120)  # noqa: E731
    key = fieldbook("vapid").stdout.strip()
    assert len(services.b64url_decode(key)) == 65
    assert (tmp_path / "vapid_private_key.pem").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("FIELDBOOK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VAPID_PRIVATE_KEY", raising=False)
    assert services.public_key(from_env().push) == key  # generated once, then read
    monkeypatch.setenv("VAPID_PRIVATE_KEY", PUSH.vapid_private_key)
    assert services.public_key(from_env().push) == services.public_key(PUSH)
    raw_key = Vapid.from_pem(PUSH.vapid_private_key.encode()).private_key.private_numbers().private_value.to_bytes(32, "big")
    monkeypatch.setenv("VAPID_PRIVATE_KEY", services.b64url(raw_key))  # the form `vapid --gen` tools print
    assert services.public_key(from_env().push) == services.public_key(PUSH)
    assert fieldbook("migrate").returncode == 0

    # A user with a subscription and a message due, written straight into the new database.
    receiver.vapid_public_key = key
    subscription = receiver.subscribe()
    engine = db.make_engine(DatabaseSettings(url=f"sqlite:///{tmp_path / 'fieldbook.db'}"))

    async def seed() -> None:
        user = await accounts.add_user("rep@example.test", "long enough password", "rep", "North")
        await raw(engine, "INSERT INTO device (replica, \"user\", name, created_at) VALUES ('r1', {}, '', {})", user, dt.datetime.now(dt.timezone.utc))
        device = (await raw(engine, "SELECT id FROM device"))[0]["id"]
        await raw(
            engine,
            "INSERT INTO push_subscription (device, \"user\", endpoint, p256dh, auth, user_agent, created_at) VALUES ({}, {}, {}, {}, {}, '', {})",
            device, user, subscription["endpoint"], subscription["keys"]["p256dh"], subscription["keys"]["auth"], dt.datetime.now(dt.timezone.utc),
        )
        await services.notify_user(user, {"type": "hello"}, engine=engine)

    run(engine, seed)
    worked = fieldbook("worker", "--once")
    assert worked.returncode == 0, worked.stderr
    assert "handled 1 push messages" in worked.stdout
    assert [r.payload for r in receiver.delivered()] == [{"type": "hello"}]
    assert "VAPID_SUBJECT is not set" in worked.stderr
    env["VAPID_SUBJECT"] = "mailto:ops@example.test"
    worked = fieldbook("worker", "--once")
    assert worked.returncode == 0 and "VAPID_SUBJECT" not in worked.stderr, worked.stderr


DAY_MS = 86_400_000


def test_the_record_of_finished_pushes_is_deleted_once_past_keeping(env: Env) -> None:
    user = env.world.users["rep"].id
    now = services.now_ms()
    old, recent = now - 31 * DAY_MS, now - 29 * DAY_MS
    # (key, status, created, due, sent): what each message is, and whether it goes.
    cases = {
        "sent-long-ago": ("sent", old, old, old, True),
        "failed-long-ago": ("failed", old, old, None, True),
        "cancelled-long-ago": ("cancelled", old, old, None, True),
        "expired-long-ago": ("expired", old, old, None, True),
        "sent-lately": ("sent", old, old, recent, False),
        "cancelled-but-due-later": ("cancelled", old, now + DAY_MS, None, False),
        "pending-long-ago": ("pending", old, old, None, False),
        "sending-long-ago": ("sending", old, old, None, False),
    }

    async def fill() -> dict[str, int]:
        engine = engine_for(env.settings)
        ids = {}
        for key, (status, created, due, sent, _) in cases.items():
            rows = await raw(
                engine,
                "INSERT INTO push_message (key, recipient, payload, due_ms, ttl_s, urgency, status, lease_ms, created_ms, sent_ms)"
                " VALUES ({}, {}, {}, {}, 60, 'normal', {}, 0, {}, {}) RETURNING id",
                key, user, "{}", due, status, created, sent,
            )
            ids[key] = rows[0]["id"]
            for at in (old, recent):
                await raw(
                    engine,
                    "INSERT INTO push_attempt (message, origin, attempt, outcome, error, at_ms, duration_ms) VALUES ({}, '', 1, 'delivered', '', {}, 1)",
                    ids[key], at,
                )
        return ids

    ids = env.call(fill)
    messages, attempts = env.call(lambda: Worker(PUSH, engine_for(env.settings)).prune(now))
    gone = {key for key, case in cases.items() if case[-1]}
    assert messages == len(gone)
    # Every attempt over 30 days old goes, and so do all those of a message that goes.
    assert attempts == len(cases) + len(gone)
    left = {r["key"] for r in _rows(env, "SELECT key FROM push_message")}
    assert left == set(cases) - gone
    kept_attempts = _rows(env, "SELECT message, at_ms FROM push_attempt")
    assert sorted((r["message"], r["at_ms"]) for r in kept_attempts) == sorted((ids[k], recent) for k in left)
    assert env.call(lambda: Worker(PUSH, engine_for(env.settings)).prune(now)) == (0, 0)


def test_keeping_must_outlast_the_stale_limit() -> None:
    with pytest.raises(ValueError, match="PUSH_KEEP_DAYS must be more than 1 day"):
        PushSettings(keep_days=1)
    assert PushSettings(keep_days=2).keep_days == 2
