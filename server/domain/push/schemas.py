"""Wire shapes of the push API: the browser's PushSubscription.toJSON(), the VAPID key, the payloads."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct

#: Base64url, padded or not: a P-256 point is 65 bytes (87 characters), the auth secret 16 (22).
P256dh = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{87}=?$", description="the browser's P-256 public key, base64url")]
AuthSecret = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{22}(==)?$", description="the 16-byte auth secret, base64url")]
Replica = Annotated[str, Meta(min_length=1, max_length=64, description="the device's replica id (POST /api/v1/sync/devices)")]


class SubscriptionKeys(Struct, forbid_unknown_fields=True):
    p256dh: P256dh
    auth: AuthSecret


class SubscriptionCreate(Struct, forbid_unknown_fields=True):
    """What `pushSubscription.toJSON()` gives, plus the replica of the device subscribing."""

    endpoint: Annotated[str, Meta(min_length=8, max_length=2048)]
    keys: SubscriptionKeys
    replica: Replica
    #: Sent by browsers (usually null); not used: a push service's 404 or 410 ends a subscription.
    expiration_time: int | float | None = msgspec.field(default=None, name="expirationTime")


class Subscription(Struct):
    """A stored subscription, as the API answers it."""

    id: int
    replica: str
    endpoint: str
    user_agent: str
    created_at: str


class PublicKey(Struct):
    """The VAPID public key: `applicationServerKey` for `pushManager.subscribe()`."""

    public_key: str  #: the uncompressed P-256 point, base64url without padding


class Action(Struct, omit_defaults=True):
    action: str  #: what the service worker's notificationclick sees as event.action
    title: str
    #: For "snooze": how far to move the task's remind_at.
    minutes: int | None = msgspec.field(default=None)


class RecordRef(Struct):
    type: str
    id: str


class Notification(Struct, omit_defaults=True):
    """The JSON a service worker's push event receives (event.data.json())."""

    type: str  #: "reminder" (later: "approval", ...)
    title: str
    body: str
    url: str  #: where a tap on the notification opens the app
    tag: str  #: one notification per tag: a rescheduled reminder replaces its earlier one
    record: RecordRef | None = None
    actions: list[Action] = msgspec.field(default_factory=list)
    remind_at: str | None = None
    due_at: str | None = None
