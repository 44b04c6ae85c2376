"""Nodes: the processes that share one database, each holding a lease it renews.

A node that stops renewing (killed, cut off, frozen) is dead once its lease runs out, and the first engine
to notice takes over what it held, in one transaction: its live calls end as `failed` with their status
callbacks (a call's media lived in that process and cannot be resumed) and leave the conferences and
queues they were in, the conferences it ran end, the recordings under way there end absent, the jobs it
had claimed go back to the queue for the others, and the messages in its SMPP outboxes are submitted by
the engine that took over. Each engine also ends the rooms and queue bridges it shared with the dead one.
A node started again under the same id takes back its own leftovers at once instead of waiting for the
lease.

Roles: an "api" node serves the REST API and runs no jobs; an "engine" node runs the jobs, the carriers
and the calls; "all" (the embedded default) is both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, func, insert, select, update

from telephonist.store.db import raw
from telephonist.store.models import nodes

if TYPE_CHECKING:
    from telephonist.app import Platform

log = logging.getLogger("telephonist.nodes")


class Nodes:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        settings = platform.settings
        self.id = settings.node
        self.role = settings.role
        self.lease = settings.node_lease
        self.engine = settings.role in ("all", "engine")
        self.api_nodes = 1  # live nodes serving the API, this one included (counted at each renewal)

    def register(self) -> None:
        """Start this node's lease, after taking back what an earlier process under this id held and, on an
        engine, what the dead nodes held."""
        now = time.time()
        with self.p.db.tx() as conn:
            self._take_over(conn, self.id)
            # Live calls and outboxes of no node: left by a version before nodes, when all was one process's.
            self.p.voice.fail_calls_of(conn, None)
            if self.engine:
                self.p.smpp.adopt(raw(conn), None)
            conn.execute(
                insert(nodes).values(id=self.id, role=self.role, started=now, lease_until=now + self.lease)
            )
            self._count(conn, now)
        if self.engine:
            self.reap()

    def unregister(self) -> None:
        """A clean stop: the lease ends now, so that the next engine to look (or this node started again)
        takes over at once what is left, such as messages in an SMPP outbox."""
        with self.p.db.tx() as conn:
            conn.execute(update(nodes).where(nodes.c.id == self.id).values(lease_until=0.0))

    async def run(self) -> None:
        """Renew the lease every third of it; an engine also takes over from the nodes that died."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                self.renew()
                if self.engine:
                    self.reap()
                    self.p.voice.conferences.check_nodes()
                    self.p.voice.queues.check_nodes()
            except Exception:  # the database may be away for a while: try again next time round
                log.exception("node %s: renewing its lease failed", self.id)

    def renew(self) -> None:
        now = time.time()
        with self.p.db.tx() as conn:
            renewed = conn.execute(
                update(nodes).where(nodes.c.id == self.id).values(lease_until=now + self.lease)
            ).rowcount
            if not renewed:
                # Stalled past the lease: the others have failed our calls already. Carry on as a new node.
                log.error("node %s: its lease ran out; its calls were taken over by others", self.id)
                conn.execute(
                    insert(nodes).values(
                        id=self.id, role=self.role, started=now, lease_until=now + self.lease
                    )
                )
            self._count(conn, now)

    def _count(self, conn: Connection, now: float) -> None:
        serving = select(func.count()).where(nodes.c.lease_until >= now, nodes.c.role.in_(("all", "api")))
        self.api_nodes = max(1, conn.scalar(serving) or 0)

    def reap(self) -> list[str]:
        """Take over from every node whose lease has run out; their ids. Two engines never take over the
        same node: the row is locked, and the second skips it (PostgreSQL)."""
        with self.p.db.tx() as conn:
            dead = conn.scalars(
                select(nodes.c.id).where(nodes.c.lease_until < time.time()).with_for_update(skip_locked=True)
            ).all()
            for node in dead:
                log.warning("node %s: its lease ran out; taking over its calls and jobs", node)
                self._take_over(conn, node)
        if dead:
            self.p.jobs.wake()
        return list(dead)

    def _take_over(self, conn: Connection, node: str) -> None:
        self.p.voice.fail_calls_of(conn, node)
        self.p.voice.conferences.over_for(conn, node)
        self.p.jobs.release(raw(conn), node)
        if self.engine and node != self.id:
            self.p.smpp.adopt(raw(conn), node)
        conn.execute(delete(nodes).where(nodes.c.id == node))

    def gone(self, ids: set[str]) -> set[str]:
        """Which of these nodes are dead (no query when there are none to ask about)."""
        if not ids:
            return set()
        with self.p.db.tx() as conn:
            return {node for node in ids if not self.alive(conn, node)}

    def alive(self, conn: Connection, node: str) -> bool:
        row = conn.execute(select(nodes.c.lease_until).where(nodes.c.id == node)).first()
        return row is not None and row[0] >= time.time()
