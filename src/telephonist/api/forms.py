"""Form-encoded parameters as Twilio clients send them: PascalCase names, repeated keys for lists."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote_plus

from dateutil import parser as dateparser

from telephonist.api.errors import TwilioError


class Params:
    """A read-only multi-dict of request parameters."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._map: dict[str, list[str]] = {}
        for k, v in pairs:
            self._map.setdefault(k, []).append(v)

    @classmethod
    def parse(cls, raw: bytes | str) -> Params:
        """`parse_qsl(text, keep_blank_values=True)`, without its general machinery: `&`-separated pairs,
        a name without `=` has the value "", and only a part with `%` or `+` goes through unquoting."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        pairs = []
        for part in text.split("&"):
            if part:
                name, _, value = part.partition("=")
                if "%" in name or "+" in name:
                    name = unquote_plus(name)
                if "%" in value or "+" in value:
                    value = unquote_plus(value)
                pairs.append((name, value))
        return cls(pairs)

    def __contains__(self, name: str) -> bool:
        return name in self._map

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._map.get(name)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self._map.get(name, ()))

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise TwilioError(20422, f"Invalid value for {name}: {value}")

    def integer(self, name: str, default: int, code: int = 20422) -> int:
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise TwilioError(code, f"Invalid {name}: {value}") from None

    def method(self, name: str, default: str = "POST", code: int = 21403) -> str:
        value = (self.get(name) or default).upper()
        if value not in ("GET", "POST"):
            raise TwilioError(code, f"{name} must be either GET or POST, not '{self.get(name)}'")
        return value

    def events(self, name: str) -> list[str]:
        """Event lists arrive as repeated keys or space-separated values; accept both."""
        return [e for v in self.getlist(name) for e in v.replace(",", " ").split()]


def parse_date_filter(name: str, value: str) -> dt.datetime:
    """`YYYY-MM-DD`, ISO 8601 (what twilio 9.x sends) or any reasonable date string, as naive UTC."""
    try:
        parsed: dt.datetime = dateparser.parse(value)
        # In the try: converting to UTC fails on an offset of 24 hours or more, or leaves year 1.
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise TwilioError(20001, f"Invalid {name} value: {value}") from None
    if parsed.date() == dt.date.max:  # date_filters reads to the day after, which datetime cannot hold
        raise TwilioError(20001, f"Invalid {name} value: {value}")
    return parsed


def date_filters(params: Params, name: str, column: Any) -> tuple[list[Any], list[tuple[str, str]]]:
    """`Name`, `Name<` and `Name>` filters. `Name` matches the whole UTC day of its value (twilio 9.x sends
    `date_sent=datetime(…)` as `YYYY-MM-DDT00:00:00Z`); a bare date as a bound covers that whole day."""
    where: list[Any] = []
    echoed: list[tuple[str, str]] = []
    for suffix in ("", "<", ">"):
        value = params.get(name + suffix)
        if not value:
            continue
        echoed.append((name + suffix, value))
        moment = parse_date_filter(name + suffix, value)
        whole_day = len(value.strip()) == 10
        end = moment + dt.timedelta(days=1) if whole_day else moment
        if suffix == "<":
            where.append(column < end if whole_day else column <= end)
        elif suffix == ">":
            where.append(column >= moment)
        else:
            day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            where.extend([column >= day, column < day + dt.timedelta(days=1)])
    return where, echoed
