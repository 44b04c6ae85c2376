"""Where registered phones are (RFC 3261 §10): each address of record's contacts until they expire.
Plain data, time passed in; kept in memory, as phones register again within their interval."""

from __future__ import annotations

from dataclasses import dataclass

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
    def __init__(self) -> None:
        self._bindings: dict[str, dict[str, Binding]] = {}

    def update(self, binding: Binding, expires: int) -> bool:
        """Add or refresh (expires > 0) or remove (0) a binding; False for a REGISTER older than the one
        that made the binding (same Call-ID, lower CSeq: §10.3 step 7)."""
        contacts = self._bindings.setdefault(binding.aor, {})
        old = contacts.get(binding.contact)
        if old is not None and old.call_id == binding.call_id and old.cseq >= binding.cseq:
            return False
        if expires > 0:
            contacts[binding.contact] = binding
        else:
            contacts.pop(binding.contact, None)
        return True

    def clear(self, aor: str) -> None:
        """`Contact: *` with `Expires: 0`."""
        self._bindings.pop(aor, None)

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """The live contacts of `aor`, newest first."""
        contacts = self._bindings.get(aor, {})
        for key in [k for k, b in contacts.items() if b.expires_at <= now]:
            del contacts[key]
        return sorted(contacts.values(), key=lambda b: -b.expires_at)

    def find_user(self, account_sid: str, user: str, now: float) -> list[Binding]:
        """The live contacts of `user` in any domain of the account (what `<Dial><Client>` rings)."""
        found = []
        for key in list(self._bindings):
            if key.split("@", 1)[0] == user:
                found += [b for b in self.lookup(key, now) if b.account_sid == account_sid]
        return found

    def all(self, now: float) -> list[Binding]:
        return [b for key in list(self._bindings) for b in self.lookup(key, now)]
