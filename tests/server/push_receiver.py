"""A web push service for tests and benchmarks: checks the VAPID JWT, decrypts, answers on demand."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

URGENCIES = {"very-low", "low", "normal", "high"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    """One push as the receiver took it."""

    name: str  #: the subscription it was sent to
    answered: int  #: the HTTP status the receiver gave
    payload: Any = None  #: the decrypted JSON
    ttl: int | None = None
    urgency: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  #: time.time() on arrival


@dataclass
class _Subscriber:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    answers: deque = field(default_factory=deque)  #: statuses (or (status, headers)) to give next
    delay_s: float = 0.0


class PushReceiver:
    """A push service on 127.0.0.1, in a thread of its own (or a process: `serve_forever`).

    Every push is checked as a real push service and a browser would: the VAPID JWT (ES256
    signature by the key in `k`, which must be the server's; `aud` the endpoint's origin with
    its port; `exp` in the future and within 24 hours; `sub` a mailto: or https: URL), TTL
    and Urgency headers, the 4,096-byte limit, and the aes128gcm body decrypted with the
    subscription's private key and auth secret. A push failing any check is answered 400 and
    listed in `errors`. Otherwise the answer is the next one queued by `answer()`, else 201.
    """

    def __init__(self, vapid_public_key: str | None = None, *, decrypt: bool = True) -> None:
        self.vapid_public_key = vapid_public_key
        self.decrypt = decrypt
        self.port = 0
        self.received: list[Received] = []
        self.errors: list[str] = []
        self._subscribers: dict[str, _Subscriber] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._counts: dict[str, int] = defaultdict(int)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what a test sets up ----------------------------------------------------------------

    def subscribe(self, name: str | None = None) -> dict[str, Any]:
        """A new browser subscription: what `pushSubscription.toJSON()` would give."""
        name = name or b64url(os.urandom(9))
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        with self._lock:
            self._subscribers[name] = _Subscriber(key, auth)
        point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.origin}/push/{name}", "expirationTime": None, "keys": {"p256dh": b64url(point), "auth": b64url(auth)}}

    def answer(self, name_or_endpoint: str, *answers: int | tuple[Any, Any]) -> None:
        """The next answers for this subscription, in order (then 201 again): a status, a
        (status, headers) pair, or ("hang", seconds) to answer 201 only after that long."""
        with self._lock:
            self._subscribers[self._name(name_or_endpoint)].answers.extend(answers)

    def delay(self, name_or_endpoint: str, seconds: float) -> None:
        with self._lock:
            self._subscribers[self._name(name_or_endpoint)].delay_s = seconds

    def for_(self, name_or_endpoint: str) -> list[Received]:
        name = self._name(name_or_endpoint)
        with self._lock:
            return [r for r in self.received if r.name == name]

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    @staticmethod
    def _name(name_or_endpoint: str) -> str:
        return name_or_endpoint.rsplit("/", 1)[-1]

    # -- running -------------------------------------------------------------------------------

    def start(self) -> PushReceiver:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            runner = web.AppRunner(self._app(), access_log=None)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.SockSite(runner, self._sock).start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="push-receiver", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> PushReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in this process until killed (a benchmark runs the receiver in a process of its own)."""
        web.run_app(self._app(), sock=self._sock, print=None, access_log=None, handle_signals=True)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push/{name}", self._push)
        app.router.add_get("/stats", self._stats)
        return app

    # -- the push service ------------------------------------------------------------------------

    async def _stats(self, _: web.Request) -> web.Response:
        with self._lock:
            return web.json_response({"received": len(self.received), "delivered": sum(1 for r in self.received if r.answered < 300), "errors": self.errors[:20]})

    async def _push(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        with self._lock:
            subscriber = self._subscribers.get(name)
        if subscriber is None:
            return web.Response(status=404)
        with self._lock:
            planned = subscriber.answers.popleft() if subscriber.answers else 201
        if isinstance(planned, tuple) and planned[0] == "hang":
            await asyncio.sleep(planned[1])  # longer than the sender waits: a timeout
            planned = 201
        if subscriber.delay_s:
            await asyncio.sleep(subscriber.delay_s)
        try:
            claims = self._check_vapid(request.headers.get("Authorization", ""))
            ttl = int(request.headers["TTL"])
            urgency = request.headers.get("Urgency")
            if urgency not in URGENCIES:
                raise ValueError(f"Urgency header {urgency!r}")
            if request.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding {request.headers.get('Content-Encoding')!r}")
            if len(body) > 4096:
                raise ValueError(f"body of {len(body)} bytes is over 4096")
            payload = None
            if self.decrypt:
                plain = http_ece.decrypt(body, private_key=subscriber.private_key, auth_secret=subscriber.auth, version="aes128gcm")
                payload = json.loads(plain)
        except (ValueError, KeyError, InvalidSignature, http_ece.ECEException) as error:
            with self._lock:
                self.errors.append(f"{name}: {type(error).__name__}: {error}")
                self.received.append(Received(name, 400, at=time.time()))
            return web.Response(status=400, text=str(error))
        with self._lock:
            status, headers = planned if isinstance(planned, tuple) else (planned, {})
            self.received.append(Received(name, status, payload, ttl, urgency, claims, time.time()))
        return web.Response(status=status, headers=headers)

    def _check_vapid(self, authorization: str) -> dict[str, Any]:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"Authorization scheme {scheme!r}, not vapid")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = parts["t"], parts["k"]
        if self.vapid_public_key is not None and key != self.vapid_public_key:
            raise ValueError("signed with a key other than the server's")
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"JWT alg {header.get('alg')!r}")
        signature = b64url_decode(signature_b64)
        if len(signature) != 64:
            raise ValueError("ES256 signature is not 64 bytes")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(b64url_decode(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r}, not {self.origin!r}")
        now = time.time()
        if not isinstance(claims.get("exp"), int) or not now < claims["exp"] <= now + 24 * 3600:
            raise ValueError(f"exp {claims.get('exp')!r} is not within the next 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError(f"sub {claims.get('sub')!r} is not a mailto: or https: URL")
        return claims
