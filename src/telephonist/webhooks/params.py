"""Parameters every webhook of a kind carries (twilio-wire.md §3.3, §3.5)."""

from __future__ import annotations

import phonenumbers


def _country(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ""
    # Unassigned test numbers (+1555…) have no region of their own: use the country code's.
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(
        parsed.country_code or 0
    )
    return "" if region == "ZZ" else region


def geo_params(from_: str, to: str, legacy: bool = False) -> list[tuple[str, str]]:
    """From*/To* geography (country only on the simulated network); voice adds Caller*/Called* duplicates."""
    out: list[tuple[str, str]] = []
    for side, number, old in (("From", from_, "Caller"), ("To", to, "Called")):
        values = (("City", ""), ("State", ""), ("Zip", ""), ("Country", _country(number)))
        out += [(side + k, v) for k, v in values]
        if legacy:
            out += [(old + k, v) for k, v in values]
    return out
