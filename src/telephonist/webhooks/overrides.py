"""Twilio's connection overrides: the timeouts and retries of one webhook URL, written in its fragment
(`https://app.example.com/voice#ct=1000&rc=2&rp=all`). A fragment is never sent and never signed.

As Twilio documents them ("Webhooks connection overrides", twilio.com/docs/usage/webhooks):

    ct   connect timeout, ms                          100–10000   default 5000
    rt   read timeout, ms: the wait for the response's
         first bytes, and between its packets          100–15000   default 15000
    tt   total time of every attempt together, ms     100–15000   default 15000 (here webhook_timeout)
    rc   retry count                                   0–5         default 1
    rp   retry policy: ct (no connection), rt (read
         timed out), 4xx, 5xx, all; comma-separated                default ct
    e    egress edge, sni: Server Name Indication

So by default a connection that cannot be made is tried twice (Twilio's "two 5-second attempts"), and a
slow or failing application is not retried. A number outside its range is clamped into it and one that is
not a whole number is ignored (the default stays), as no error code of Twilio's is about them; a retry
policy Twilio does not know fails the webhook with 11243, which is. `e` and `sni` are accepted and have no
effect: there is one egress, and SNI is always sent for a host name. Other keys are the application's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

POLICIES = frozenset({"ct", "rt", "4xx", "5xx"})
# (key, least, most) in the documented units; timeouts are kept in seconds.
_RANGES = {"ct": (100, 10_000), "rt": (100, 15_000), "tt": (100, 15_000), "rc": (0, 5)}


class InvalidRetryPolicy(ValueError):
    """An `rp` value Twilio does not know: error 11243."""


@dataclass(frozen=True)
class Overrides:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float | None = None  # None: the platform's webhook_timeout
    retry_count: int = 1
    retry_policy: frozenset[str] = frozenset({"ct"})


DEFAULT = Overrides()


def parse(fragment: str) -> Overrides:
    """The overrides a URL fragment sets; raises InvalidRetryPolicy for an unknown `rp` value."""
    if "=" not in fragment:  # the common case: no fragment, or an anchor of the app's own
        return DEFAULT
    numbers: dict[str, int] = {}
    policy = DEFAULT.retry_policy
    for key, value in parse_qsl(fragment, keep_blank_values=True):
        if key == "rp":
            policy = _policy(value)
        elif key in _RANGES:
            try:
                number = int(value)
            except ValueError:
                continue
            least, most = _RANGES[key]
            numbers[key] = min(max(number, least), most)
    return Overrides(
        connect_timeout=numbers["ct"] / 1000 if "ct" in numbers else DEFAULT.connect_timeout,
        read_timeout=numbers["rt"] / 1000 if "rt" in numbers else DEFAULT.read_timeout,
        total_timeout=numbers["tt"] / 1000 if "tt" in numbers else None,
        retry_count=numbers.get("rc", DEFAULT.retry_count),
        retry_policy=policy,
    )


def _policy(value: str) -> frozenset[str]:
    names = {name.strip().lower() for name in value.split(",")}
    if "all" in names:
        names = (names - {"all"}) | POLICIES
    unknown = names - POLICIES
    if unknown or not names:
        raise InvalidRetryPolicy(f"HTTP retry policy is invalid: {value!r}")
    return frozenset(names)
