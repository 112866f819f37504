"""Tables of the push domain: subscriptions, the queue of messages to send, and every attempt."""

from piccolo.columns import BigInt, ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from server.domain.accounts.tables import Device, User

#: pending: waiting for due_ms; sending: claimed by a worker; then one of the final states.
MESSAGE_STATUSES = ("pending", "sending", "sent", "failed", "refused", "unsubscribed", "expired", "cancelled")


class PushSubscription(Table, tablename="push_subscription"):
    """A phone's PushSubscription: one per device, replaced when the phone subscribes again."""

    id = Serial(primary_key=True)
    device = ForeignKey(references=Device, on_delete=OnDelete.cascade, unique=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    #: The push service's URL for this browser; unique, since a browser has one at a time.
    endpoint = Varchar(length=2048, unique=True)
    p256dh = Varchar(length=100)  #: the browser's P-256 public key, base64url
    auth = Varchar(length=32)  #: the 16-byte auth secret, base64url
    user_agent = Varchar(length=500, default="")
    created_at = Timestamptz()


class PushMessage(Table, tablename="push_message"):
    """One payload to send to every subscription of one user at a time.

    Times are milliseconds since the epoch: the worker compares them in plain SQL, and integers
    compare alike on both engines.
    """

    id = Serial(primary_key=True)
    #: At most one message per key: "reminder:<task id>" is rescheduled in place.
    key = Varchar(length=100, null=True, default=None, unique=True)
    recipient = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    payload = Text()  #: the JSON the service worker receives
    due_ms = BigInt(index=True)
    ttl_s = Integer(default=86400)  #: how long a push service keeps it for an offline phone
    urgency = Varchar(length=8, default="normal")  #: very-low, low, normal or high
    status = Varchar(length=16, default="pending", index=True)  #: one of MESSAGE_STATUSES
    #: The worker's token while sending; a finish whose token no longer matches (rescheduled,
    #: cancelled, or taken over after the lease) changes nothing.
    claim = Varchar(length=32, null=True, default=None)
    lease_ms = BigInt(default=0)  #: a claim still sending after this is a crashed worker's
    created_ms = BigInt()
    sent_ms = BigInt(null=True, default=None)


class PushAttempt(Table, tablename="push_attempt"):
    """One try to hand one message to one push service, whatever came of it."""

    id = Serial(primary_key=True)
    message = ForeignKey(references=PushMessage, on_delete=OnDelete.cascade, index=True)
    #: Not a foreign key: attempts outlive subscriptions deleted as gone. Null when the
    #: message was refused before any subscription was tried.
    subscription = Integer(null=True, default=None)
    origin = Varchar(length=300, default="")  #: scheme://host:port of the push service
    attempt = Integer(default=1)  #: 1 for the first try
    http_status = Integer(null=True, default=None)  #: null when no answer came
    #: delivered, retry (tried again after it), gone (404/410: subscription deleted), failed, refused
    outcome = Varchar(length=12)
    error = Text(default="")
    at_ms = BigInt(index=True)
    duration_ms = Integer(default=0)
