"""The dispatcher: claims due push messages atomically, sends them, records every attempt."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass

import msgspec
from piccolo.engine.base import Engine

from server.db import is_sqlite, raw
from server.domain.push.sender import Attempt, Delivery, Sender, subscriptions_of
from server.domain.push.services import now_ms
from server.domain.push.tables import MESSAGE_STATUSES
from server.settings import PushSettings

log = logging.getLogger("fieldbook.push")

#: Messages one claim takes; several claims run side by side (see Worker.run_once).
BATCH = 200
#: How often a running worker deletes what is past keeping (see Worker.prune).
PRUNE_EVERY_S = 3600
#: Final statuses: a message in one of them is never sent again.
FINISHED = tuple(s for s in MESSAGE_STATUSES if s not in ("pending", "sending"))


@dataclass(frozen=True)
class Claimed:
    id: int
    recipient: int
    payload: str
    due_ms: int
    ttl_s: int
    urgency: str


class Worker:
    """One dispatcher. Any number may run against one database: each message is claimed by one.

    The claim is a single UPDATE of the due rows to `sending` under this worker's token,
    inside one transaction: BEGIN IMMEDIATE on SQLite (one writer at a time), and on
    PostgreSQL a `FOR UPDATE SKIP LOCKED` subquery, so two workers take disjoint rows without
    waiting for each other. A claim carries a lease: a worker that dies mid-send leaves rows
    that another takes over once the lease is past (at least once, then; never twice while
    both live).
    """

    def __init__(self, settings: PushSettings, engine: Engine, *, batch: int = BATCH, name: str | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.batch = batch
        self.name = name or f"{socket.gethostname()[:12]}-{os.getpid()}"
        self._claims = 0

    def _token(self) -> str:
        self._claims += 1
        return f"{self.name[:16]}-{self._claims}-{secrets.token_hex(3)}"[:32]

    async def claim(self, at_ms: int | None = None) -> tuple[str, list[Claimed]]:
        """Take up to `batch` due messages for this worker; drop those too late to matter."""
        at = now_ms() if at_ms is None else at_ms
        token = self._token()
        lock = "" if is_sqlite(self.engine) else " FOR UPDATE SKIP LOCKED"
        async with self.engine.transaction():
            await raw(
                self.engine,
                "UPDATE push_message SET status = 'expired', claim = NULL WHERE status = 'pending' AND due_ms < {}",
                at - self.settings.stale_after_s * 1000,
            )
            rows = await raw(
                self.engine,
                "UPDATE push_message SET status = 'sending', claim = {}, lease_ms = {}"
                " WHERE id IN (SELECT id FROM push_message"
                "  WHERE status IN ('pending', 'sending') AND due_ms <= {} AND (status = 'pending' OR lease_ms < {})"
                f"  ORDER BY due_ms LIMIT {{}}{lock})"
                " RETURNING id, recipient, payload, due_ms, ttl_s, urgency",
                token,
                at + self.settings.lease_s * 1000,
                at,
                at,
                self.batch,
            )
        claimed = sorted((Claimed(**row) for row in rows), key=lambda c: (c.due_ms, c.id))
        return token, claimed

    async def dispatch(self, sender: Sender, token: str, claimed: list[Claimed]) -> dict[int, Delivery]:
        """Send claimed messages in parallel, then record the outcome in one transaction."""
        targets = await subscriptions_of(self.engine, sorted({c.recipient for c in claimed}))
        deliveries = await asyncio.gather(
            *(sender.send(targets[c.recipient], c.payload, ttl_s=c.ttl_s, urgency=c.urgency) for c in claimed)
        )
        done = dict(zip((c.id for c in claimed), deliveries))
        await self._record(token, done)
        return done

    async def _record(self, token: str, done: dict[int, Delivery]) -> None:
        gone = sorted({s for d in done.values() for s in d.gone})
        rows = [(message, a) for message, d in done.items() for a in d.attempts]
        by_status: dict[str, list[int]] = {}
        for message, delivery in done.items():
            by_status.setdefault(delivery.status, []).append(message)
        at = now_ms()
        async with self.engine.transaction():
            if gone:
                marks = ", ".join("{}" for _ in gone)
                await raw(self.engine, f"DELETE FROM push_subscription WHERE id IN ({marks})", *gone)
            await _insert_attempts(self.engine, rows)
            for status, ids in by_status.items():
                marks = ", ".join("{}" for _ in ids)
                # Only rows still under this claim: one rescheduled or cancelled meanwhile keeps
                # its new state (a rescheduled reminder is sent again at its new time).
                await raw(
                    self.engine,
                    f"UPDATE push_message SET status = {{}}, sent_ms = {{}}, claim = NULL WHERE claim = {{}} AND id IN ({marks})",
                    status,
                    at,
                    token,
                    *ids,
                )

    async def run_once(self, sender: Sender | None = None) -> int:
        """Send every message due now, then return how many were handled."""
        if sender is None:
            async with Sender(self.settings) as own:
                return await self.run_once(own)
        handled = 0
        pending: set[asyncio.Task] = set()
        # Two batches in flight: the next claim's round trip overlaps this batch's sending.
        while True:
            token, claimed = await self.claim()
            if claimed:
                pending.add(asyncio.create_task(self.dispatch(sender, token, claimed)))
                handled += len(claimed)
            if len(pending) >= 2 or (not claimed and pending):
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    task.result()
            if not claimed and not pending:
                return handled

    async def prune(self, at_ms: int | None = None) -> tuple[int, int]:
        """Delete finished messages and attempts older than `keep_days`; returns how many of each.

        A message goes once everything about it (made, due, sent) is that old, and never while
        it may still be sent. A keyed reminder deleted here cannot go out again for the same
        time: one asked again that late is dropped as stale (keep_days is more than
        stale_after_s), so the record it leaves behind need not stay.
        """
        cutoff = (now_ms() if at_ms is None else at_ms) - self.settings.keep_days * 86_400_000
        finished = ", ".join(f"'{status}'" for status in FINISHED)
        old = f"status IN ({finished}) AND created_ms < {{}} AND due_ms < {{}} AND (sent_ms IS NULL OR sent_ms < {{}})"
        async with self.engine.transaction():
            attempts = await raw(
                self.engine,
                f"DELETE FROM push_attempt WHERE at_ms < {{}} OR message IN (SELECT id FROM push_message WHERE {old}) RETURNING id",
                cutoff,
                cutoff,
                cutoff,
                cutoff,
            )
            messages = await raw(self.engine, f"DELETE FROM push_message WHERE {old} RETURNING id", cutoff, cutoff, cutoff)
        return len(messages), len(attempts)

    async def next_due_ms(self) -> int | None:
        rows = await raw(self.engine, "SELECT MIN(due_ms) AS due FROM push_message WHERE status = 'pending'")
        return rows[0]["due"] if rows and rows[0]["due"] is not None else None

    async def run_forever(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Send what comes due until `stop` is set; wakes at the next due time or every `poll_s`."""
        pruned_at = float("-inf")
        async with Sender(self.settings) as sender:
            while not stop.is_set():
                try:
                    if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                        pruned_at = time.monotonic()
                        messages, attempts = await self.prune()
                        if messages or attempts:
                            log.info("deleted %d finished push messages and %d attempts past keeping", messages, attempts)
                    sent = await self.run_once(sender)
                    if sent:
                        log.info("handled %d push messages", sent)
                    due = await self.next_due_ms()
                except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
                    log.exception("push dispatch failed; trying again")
                    due = None
                wait = poll_s if due is None else min(poll_s, max(0.0, (due - now_ms()) / 1000))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass


_ATTEMPT_COLUMNS = "message, subscription, origin, attempt, http_status, outcome, error, at_ms, duration_ms"


async def _insert_attempts(engine: Engine, rows: list[tuple[int, Attempt]]) -> None:
    # The whole batch as one JSON parameter: building a statement of thousands of placeholders
    # cost more than the insert itself.
    if not rows:
        return
    data = msgspec.json.encode(
        [[m, a.subscription, a.origin, a.attempt, a.http_status, a.outcome, a.error, a.at_ms, a.duration_ms] for m, a in rows]
    ).decode()
    if is_sqlite(engine):
        fields = ", ".join(f"value ->> {i}" for i in range(9))
        source = f"SELECT {fields} FROM json_each({{}})"
    else:
        fields = ", ".join(f"(value ->> {i})::{t}" for i, t in enumerate(("int", "int", "text", "int", "int", "text", "text", "bigint", "int")))
        source = f"SELECT {fields} FROM json_array_elements({{}}::json)"
    await raw(engine, f"INSERT INTO push_attempt ({_ATTEMPT_COLUMNS}) {source}", data)
