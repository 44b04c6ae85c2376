"""Where registered phones are (RFC 3261 §10): each address of record's contacts until they expire, time
passed in. Kept in the database, so that a call placed by any engine reaches a phone that registered with
another (at the address its REGISTER came from: the phone, or the SIP load balancer in front)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from telephonist.store.models import sip_registrations as table

if TYPE_CHECKING:
    from telephonist.store.db import Database

DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60  # shorter asks get 423 Interval Too Brief
MAX_EXPIRES = 3600

Addr = tuple[str, int]


@dataclass(frozen=True)
class Binding:
    aor: str  # user@domain, lower-cased domain
    contact: str  # the Contact URI the phone gave
    source: Addr  # where its REGISTER came from: requests go there (it may be behind NAT)
    expires_at: float
    call_id: str
    cseq: int
    account_sid: str
    domain_sid: str


def aor(user: str, domain: str) -> str:
    return f"{user}@{domain.lower()}"


class Registrar:
    def __init__(self, db: Database) -> None:
        self.db = db

    def update(self, binding: Binding, expires: int) -> bool:
        """Add or refresh (expires > 0) or remove (0) a binding; False for a REGISTER older than the one
        that made the binding (same Call-ID, lower CSeq: §10.3 step 7)."""
        mine = (table.c.aor == binding.aor, table.c.contact == binding.contact)
        with self.db.tx() as conn:
            old = conn.execute(select(table.c.call_id, table.c.cseq).where(*mine)).first()
            if old is not None and old.call_id == binding.call_id and old.cseq >= binding.cseq:
                return False
            conn.execute(delete(table).where(*mine))
            if expires > 0:
                conn.execute(
                    insert(table).values(
                        aor=binding.aor,
                        username=binding.aor.rsplit("@", 1)[0],
                        contact=binding.contact,
                        source_host=binding.source[0],
                        source_port=binding.source[1],
                        expires_at=binding.expires_at,
                        call_id=binding.call_id,
                        cseq=binding.cseq,
                        account_sid=binding.account_sid,
                        domain_sid=binding.domain_sid,
                    )
                )
        return True

    def clear(self, aor: str) -> None:
        """`Contact: *` with `Expires: 0`."""
        with self.db.tx() as conn:
            conn.execute(delete(table).where(table.c.aor == aor))

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """The live contacts of `aor`, newest first."""
        return self._live(now, table.c.aor == aor)

    def find_user(self, account_sid: str, user: str, now: float) -> list[Binding]:
        """The live contacts of `user` in any domain of the account (what `<Dial><Client>` rings)."""
        return self._live(now, table.c.account_sid == account_sid, table.c.username == user)

    def all(self, now: float) -> list[Binding]:
        return self._live(now)

    def _live(self, now: float, *where: Any) -> list[Binding]:
        with self.db.tx() as conn:
            conn.execute(delete(table).where(table.c.expires_at <= now, *where))
            rows = conn.execute(select(table).where(*where).order_by(table.c.expires_at.desc())).mappings()
            return [
                Binding(
                    row["aor"],
                    row["contact"],
                    (row["source_host"], row["source_port"]),
                    row["expires_at"],
                    row["call_id"],
                    row["cseq"],
                    row["account_sid"],
                    row["domain_sid"],
                )
                for row in rows
            ]
