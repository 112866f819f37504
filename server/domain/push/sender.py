"""Sending one payload to a user's subscriptions: aes128gcm by pywebpush, VAPID, TTL, Urgency, retries."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from piccolo.engine.base import Engine
from pywebpush import WebPusher

from server.db import raw
from server.domain.push.services import MAX_PAYLOAD_BYTES, VapidHeaders, audience, vapid
from server.settings import PushSettings

#: Answers worth trying again: the push service is busy or broken, not the subscription.
RETRYABLE = {429, 500, 502, 503, 504}
#: The subscription is gone for good (RFC 8030: expired or unsubscribed).
GONE = {404, 410}


@dataclass(frozen=True)
class Target:
    """One subscription, as the sender needs it."""

    id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass
class Attempt:
    subscription: int | None
    origin: str
    attempt: int
    http_status: int | None
    outcome: str  #: delivered, retry, gone, failed, refused
    error: str
    at_ms: int
    duration_ms: int


@dataclass
class Delivery:
    """What became of one payload: every attempt, and the final word per subscription."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return sum(1 for a in self.attempts if a.outcome == "delivered")

    @property
    def gone(self) -> list[int]:
        return [a.subscription for a in self.attempts if a.outcome == "gone" and a.subscription is not None]

    @property
    def status(self) -> str:
        """The message's final status."""
        if any(a.outcome == "refused" for a in self.attempts):
            return "refused"
        if self.delivered:
            return "sent"
        return "failed" if self.attempts else "unsubscribed"


def _origin(endpoint: str) -> str:
    url = urllib.parse.urlsplit(endpoint)
    return f"{url.scheme}://{url.netloc}"[:300]


def _encrypt(target: Target, data: bytes) -> bytes:
    """The aes128gcm body (RFC 8291) of one push to one subscription: pywebpush's encoder (an
    ephemeral P-256 key, ECDH with the browser's key, HKDF with its auth secret, AES-GCM)."""
    if not data:
        return b""
    pusher = WebPusher({"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}})
    return pusher.encode(data, "aes128gcm")["body"]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


async def subscriptions_of(engine: Engine, user_ids: list[int]) -> dict[int, list[Target]]:
    """Every subscription of these users, by user."""
    out: dict[int, list[Target]] = {u: [] for u in user_ids}
    if not user_ids:
        return out
    marks = ", ".join("{}" for _ in user_ids)
    rows = await raw(engine, f'SELECT id, "user", endpoint, p256dh, auth FROM push_subscription WHERE "user" IN ({marks})', *user_ids)
    for row in rows:
        out[row["user"]].append(Target(row["id"], row["endpoint"], row["p256dh"], row["auth"]))
    return out


class Sender:
    """Sends payloads with at most `concurrency` pushes in flight, over one connection pool.

    Each body is encrypted once per subscription (a retry sends the same bytes again) and
    POSTed with the VAPID header cached per push service.
    """

    def __init__(self, settings: PushSettings) -> None:
        self.settings = settings
        self.vapid = VapidHeaders(vapid(settings.vapid_private_key), settings.subject)
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)

    async def __aenter__(self) -> Sender:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.concurrency),
            timeout=self._timeout,
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, targets: list[Target], payload: str, *, ttl_s: int, urgency: str) -> Delivery:
        """One payload to each of these subscriptions, in parallel; never raises for a push service's fault."""
        delivery = Delivery()
        data = payload.encode()
        if len(data) > MAX_PAYLOAD_BYTES:
            delivery.attempts.append(
                Attempt(None, "", 1, None, "refused", f"payload is {len(data)} bytes; at most {MAX_PAYLOAD_BYTES} fit in a push", int(time.time() * 1000), 0)
            )
            return delivery
        for attempts in await asyncio.gather(*(self._send_one(t, data, ttl_s, urgency) for t in targets)):
            delivery.attempts.extend(attempts)
        return delivery

    async def _send_one(self, target: Target, data: bytes, ttl_s: int, urgency: str) -> list[Attempt]:
        assert self._session is not None, "use the sender inside `async with`"
        attempts: list[Attempt] = []
        origin, aud = _origin(target.endpoint), audience(target.endpoint)
        try:
            body = _encrypt(target, data)
        except Exception as failure:  # noqa: BLE001 - a bad key must fail this push, not the batch
            error = f"{type(failure).__name__}: {failure}"[:500]
            return [Attempt(target.id, origin, 1, None, "failed", error, int(time.time() * 1000), 0)]
        headers = {"TTL": str(ttl_s), "Urgency": urgency}
        if body:
            headers["Content-Encoding"] = "aes128gcm"
        for number in range(1, self.settings.max_attempts + 1):
            status: int | None = None
            error = ""
            retry_after: float | None = None
            transient = False  #: no answer at all: a timeout or a broken connection
            async with self._slots:
                started = time.monotonic()
                try:
                    headers["Authorization"] = self.vapid.authorization(aud)
                    async with self._session.post(target.endpoint, data=body, headers=headers, timeout=self._timeout) as response:
                        status = response.status
                        # Read to the end, so that the connection goes back to the pool.
                        text = (await response.read()).decode(errors="replace")
                        if status > 202:
                            error = f"Push failed: {status} {response.reason}\nResponse body:{text}"[:500]
                            retry_after = _retry_after(response.headers.get("Retry-After"))
                except asyncio.TimeoutError:
                    transient, error = True, f"no answer within {self.settings.timeout_s} s"
                except (aiohttp.ClientError, OSError) as failure:
                    transient, error = True, f"{type(failure).__name__}: {failure}"[:500]
                except Exception as failure:  # noqa: BLE001 - a bad key must fail this push, not the batch
                    error = f"{type(failure).__name__}: {failure}"[:500]
                took = int((time.monotonic() - started) * 1000)
            if status is not None and 200 <= status < 300:
                outcome = "delivered"
            elif status in GONE:
                outcome = "gone"
            elif (transient or status in RETRYABLE) and number < self.settings.max_attempts:
                outcome = "retry"
            else:
                outcome = "failed"
            attempts.append(Attempt(target.id, origin, number, status, outcome, error, int(time.time() * 1000), took))
            if outcome != "retry":
                return attempts
            await asyncio.sleep(self._backoff(number, retry_after))
        return attempts

    def _backoff(self, number: int, retry_after: float | None) -> float:
        # Exponential with jitter, so a push service that failed many pushes at once is not hit
        # by all of them again at the same instant; a Retry-After is honoured up to the cap.
        wait = self.settings.backoff_s * (2 ** (number - 1)) * random.uniform(0.75, 1.25)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.settings.max_backoff_s)
