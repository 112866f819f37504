"""Push services: VAPID keys, subscriptions, queueing a payload for a user, and task reminders."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import time
import urllib.parse
from functools import lru_cache
from typing import Any

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from piccolo.engine.base import Engine
from py_vapid import Vapid, Vapid01

from server.db import raw
from server.domain.accounts.services import CurrentUser
from server.domain.accounts.tables import Device
from server.domain.crm.services import FieldErrors, parse_instant
from server.domain.push import schemas
from server.domain.push.tables import PushMessage, PushSubscription
from server.settings import PushSettings

#: Push services accept 4,096 bytes of encrypted body; aes128gcm adds an 86-byte header
#: (salt, record size, key id length, the 65-byte key) and 17 bytes per record (the
#: padding delimiter and the 16-byte tag), so this is the largest payload that fits.
MAX_PAYLOAD_BYTES = 4096 - 86 - 17

#: Reminders wait this long at a push service for a phone that is offline; high urgency,
#: since a reminder is about now.
REMINDER_TTL_S = 12 * 3600
REMINDER_URGENCY = "high"
URGENCIES = ("very-low", "low", "normal", "high")
SNOOZE_MINUTES = 60


class PayloadTooLarge(ValueError):
    """A payload over MAX_PAYLOAD_BYTES: no push service would take it."""


def now_ms() -> int:
    return int(time.time() * 1000)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- VAPID -------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def vapid(private_pem: str) -> Vapid01:
    """The signer for a PEM key, made once: parsing a key costs more than signing with it."""
    return Vapid.from_pem(private_pem.encode())


#: A VAPID JWT's lifetime (RFC 8292 allows at most 24 hours) and how long before its `exp` a
#: cached one is replaced, so that no push service ever sees one about to expire.
VAPID_LIFETIME_S = 12 * 3600
VAPID_RENEW_BEFORE_S = 3600


def audience(endpoint: str) -> str:
    """The VAPID `aud` of an endpoint: its push service's origin, scheme://host[:port]."""
    url = urllib.parse.urlsplit(endpoint)
    return f"{url.scheme}://{url.netloc}"


class VapidHeaders:
    """Signed VAPID Authorization headers, one per push service, reused until near their `exp`.

    Signing a JWT cost about a sixth of a push when it was done for every one; the claims
    (`sub`, `aud`, `exp`) are the same for every push to one push service, so one signature
    serves them all for hours. Each signing gets a dict of its own (py_vapid and pywebpush
    write into the one they are given); a header, once made, is an immutable string.
    """

    #: Push services a worker talks to are few (FCM, Mozilla, Apple, Microsoft); more than
    #: this many cached headers (endpoints on many ports, in tests) start the cache over.
    MAX_AUDIENCES = 256

    def __init__(self, signer: Vapid01, subject: str, *, clock: Any = time.time) -> None:
        self.signer = signer
        self.subject = subject
        self.clock = clock
        self.signed = 0  #: how many JWTs were signed (a test counts them)
        self._cache: dict[str, tuple[int, str]] = {}

    def authorization(self, aud: str) -> str:
        """The Authorization header for pushes to the push service at origin `aud`."""
        now = int(self.clock())
        cached = self._cache.get(aud)
        if cached is not None and cached[0] - now > VAPID_RENEW_BEFORE_S:
            return cached[1]
        exp = now + VAPID_LIFETIME_S
        header = self.signer.sign({"sub": self.subject, "aud": aud, "exp": exp})["Authorization"]
        self.signed += 1
        if len(self._cache) >= self.MAX_AUDIENCES:
            self._cache.clear()
        self._cache[aud] = (exp, header)
        return header


def public_key(settings: PushSettings) -> str:
    """The applicationServerKey the phone subscribes with."""
    point = vapid(settings.vapid_private_key).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


# -- subscriptions ---------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str, settings: PushSettings) -> None:
    try:
        url = urllib.parse.urlsplit(endpoint)
        url.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise FieldErrors([("endpoint", f"not a URL: {error}")]) from error
    if any(c.isspace() or not c.isprintable() for c in endpoint):
        raise FieldErrors([("endpoint", "must not hold spaces or control characters")])
    if url.port == 0:
        raise FieldErrors([("endpoint", "port 0 is no port a push service listens on")])
    host = url.hostname or ""
    if not host or url.username or url.password or url.fragment:
        raise FieldErrors([("endpoint", "must be an absolute URL with a host, no user name and no fragment")])
    if url.scheme == "https":
        return
    if url.scheme == "http" and settings.allow_loopback_http and _loopback(host):
        return
    raise FieldErrors([("endpoint", "must be an https:// URL")])


def check_keys(keys: schemas.SubscriptionKeys) -> tuple[str, str]:
    """The keys, unpadded, once they are known to be a P-256 point and a 16-byte secret."""
    point = b64url_decode(keys.p256dh)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if len(point) != 65:
            raise ValueError("not an uncompressed point")
    except ValueError as error:
        raise FieldErrors([("keys.p256dh", f"not a P-256 public key: {error}")]) from error
    if len(b64url_decode(keys.auth)) != 16:
        raise FieldErrors([("keys.auth", "must be 16 bytes")])
    return keys.p256dh.rstrip("="), keys.auth.rstrip("=")


async def _own_device(user: CurrentUser, replica: str) -> int:
    row = await Device.select(Device.id).where((Device.replica == replica) & (Device.user == user.id)).first()
    if row is None:
        raise FieldErrors([("replica", "no device of yours with that replica; register it with POST /api/v1/sync/devices")])
    return row["id"]


def _answer(row: dict[str, Any], replica: str) -> schemas.Subscription:
    created = row["created_at"]
    return schemas.Subscription(
        id=row["id"],
        replica=replica,
        endpoint=row["endpoint"],
        user_agent=row["user_agent"],
        created_at=created if isinstance(created, str) else created.isoformat(),
    )


async def subscribe(user: CurrentUser, body: schemas.SubscriptionCreate, user_agent: str, settings: PushSettings) -> schemas.Subscription:
    """Store the device's subscription, replacing the one it had."""
    check_endpoint(body.endpoint, settings)
    p256dh, auth = check_keys(body.keys)
    device = await _own_device(user, body.replica)
    values = {
        "user": user.id,
        "endpoint": body.endpoint,
        "p256dh": p256dh,
        "auth": auth,
        "user_agent": user_agent[:500],
        "created_at": dt.datetime.now(dt.timezone.utc),
    }
    async with PushSubscription._meta.db.transaction():
        # A browser has one endpoint at a time: if another device (a phone that started over
        # with a new replica) held it, that subscription is this one now.
        await PushSubscription.delete().where(
            (PushSubscription.endpoint == body.endpoint) & (PushSubscription.device != device)
        )
        if await PushSubscription.exists().where(PushSubscription.device == device):
            await PushSubscription.update({getattr(PushSubscription, k): v for k, v in values.items()}).where(
                PushSubscription.device == device
            )
        else:
            await PushSubscription.insert(PushSubscription(device=device, **values))
        row = await PushSubscription.select().where(PushSubscription.device == device).first()
    return _answer(row, body.replica)


async def unsubscribe(user: CurrentUser, replica: str) -> bool:
    """Forget the device's subscription; False when it had none."""
    device = await _own_device(user, replica)
    gone = await PushSubscription.delete().where(PushSubscription.device == device).returning(PushSubscription.id)
    return bool(gone)


# -- the queue ---------------------------------------------------------------------------


def encode_payload(payload: msgspec.Struct | dict[str, Any]) -> str:
    text = msgspec.json.encode(payload).decode()
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload is {len(text.encode())} bytes; at most {MAX_PAYLOAD_BYTES} fit in a push")
    return text


async def notify_user(
    user_id: int,
    payload: msgspec.Struct | dict[str, Any],
    *,
    key: str | None = None,
    due_ms: int | None = None,
    ttl_s: int = 24 * 3600,
    urgency: str = "normal",
    engine: Engine | None = None,
) -> None:
    """Queue a payload for every subscription of a user; the worker sends it when due.

    The one way in for every kind of push (reminders, approvals): sending, retries, removal of
    dead subscriptions and the record of attempts are the worker's. Runs inside the caller's
    transaction if there is one, so a push is queued exactly when the change behind it commits.
    With a `key`, a message not yet sent under that key is replaced (rescheduled) instead.
    """
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {URGENCIES}")
    await _upsert(engine or PushMessage._meta.db, key, user_id, encode_payload(payload), due_ms or now_ms(), ttl_s, urgency)


async def _upsert(engine: Engine, key: str | None, user_id: int, payload: str, due_ms: int, ttl_s: int, urgency: str) -> None:
    # A keyed message goes back to pending when its time changed, or when it was cancelled and
    # is wanted again; one already sent (or being sent) for the same time is left alone, so
    # editing a task's title after its reminder went out does not send the reminder twice.
    await raw(
        engine,
        "INSERT INTO push_message (key, recipient, payload, due_ms, ttl_s, urgency, status, claim, lease_ms, created_ms)"
        " VALUES ({}, {}, {}, {}, {}, {}, 'pending', NULL, 0, {})"
        " ON CONFLICT (key) DO UPDATE SET status = 'pending', due_ms = excluded.due_ms, payload = excluded.payload,"
        " recipient = excluded.recipient, ttl_s = excluded.ttl_s, urgency = excluded.urgency,"
        " claim = NULL, lease_ms = 0, sent_ms = NULL"
        " WHERE push_message.due_ms <> excluded.due_ms OR push_message.status IN ('pending', 'cancelled')",
        key,
        user_id,
        payload,
        due_ms,
        ttl_s,
        urgency,
        now_ms(),
    )


async def cancel(key: str, engine: Engine | None = None) -> None:
    """Drop a keyed message that is not sent yet."""
    await raw(
        engine or PushMessage._meta.db,
        "UPDATE push_message SET status = 'cancelled', claim = NULL WHERE key = {} AND status IN ('pending', 'sending')",
        key,
    )


# -- reminders ---------------------------------------------------------------------------


def _ms(iso: str) -> int:
    return int(parse_instant(iso).timestamp() * 1000)  # type: ignore[union-attr]


def reminder_key(task_id: str) -> str:
    return f"reminder:{task_id}"


def reminder_payload(task_id: str, values: dict[str, Any]) -> schemas.Notification:
    notes = (values.get("notes") or "").strip().splitlines()
    return schemas.Notification(
        type="reminder",
        title=values.get("title") or "Task",
        body=notes[0][:200] if notes else "Follow-up reminder",
        url=f"/#/tasks/{task_id}",
        tag=f"task:{task_id}",
        record=schemas.RecordRef(type="task", id=task_id),
        actions=[
            schemas.Action(action="done", title="Done"),
            schemas.Action(action="snooze", title="Snooze 1 h", minutes=SNOOZE_MINUTES),
        ],
        remind_at=values.get("remind_at"),
        due_at=values.get("due_at"),
    )


async def task_stored(task_id: str, values: dict[str, Any], deleted: bool, created: bool) -> None:
    """Keep the task's reminder in step with the task, in the transaction that stored it.

    A remind time on a task that is neither done nor deleted schedules (or reschedules) one
    push to the assignee; anything else cancels a reminder not yet sent.
    """
    remind_at, assignee = values.get("remind_at"), values.get("assignee")
    if remind_at and assignee and not values.get("done_at") and not deleted:
        await notify_user(
            assignee,
            reminder_payload(task_id, values),
            key=reminder_key(task_id),
            due_ms=_ms(remind_at),
            ttl_s=REMINDER_TTL_S,
            urgency=REMINDER_URGENCY,
        )
    elif not created:
        await cancel(reminder_key(task_id))
