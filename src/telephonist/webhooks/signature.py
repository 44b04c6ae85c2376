"""X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + sorted name+value pairs)),
as twilio 9.x validates it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    # Names in order, each name's distinct values in order: the distinct pairs, sorted.
    data = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.digest(auth_token.encode(), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest).decode()
