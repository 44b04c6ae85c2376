"""MMS media: fetched from the MediaUrl an app or a phone gave, kept in the database as Media resources
(ME…), and served at the Media `uri` without `.json`, as Twilio serves them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from telephonist.sids import new_sid
from telephonist.store.db import Raw, insert_row, utcnow
from telephonist.store.models import message_media
from telephonist.webhooks.client import FetchError

if TYPE_CHECKING:
    from telephonist.app import Platform

MAX_BYTES = 5 * 1024 * 1024  # all the media of one message together
# What carriers accept in an MMS (Twilio's "accepted content types"): anything else is 12300.
_ACCEPTED = re.compile(
    r"^(image|audio|video)/[\w.+-]+$|^text/(vcard|x-vcard|csv|rtf|richtext|calendar|directory|plain)$"
    r"|^application/(pdf|vcard|vnd\.apple\.pkpass)$"
)
_LOCAL = re.compile(
    r"/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages/(?:SM|MM)[0-9a-f]{32}/Media/(ME[0-9a-f]{32})$"
)
_INSERT = insert_row(message_media)
_CONTENT = select(message_media.c.content_type, message_media.c.content).where(
    message_media.c.sid == bindparam("sid")
)
_OF_MESSAGE = (
    select(message_media.c.sid, message_media.c.content_type)
    .where(message_media.c.message_sid == bindparam("sid"))
    .order_by(message_media.c.seq)
)


@dataclass(frozen=True)
class File:
    content_type: str
    content: bytes


async def fetch_all(platform: Platform, urls: list[str]) -> list[File]:
    """Every file of a message, in order; raises FetchError (11200, 11205, 11751, 12300) for the first
    that cannot be had. A URL of this platform's own media is read from the database."""
    files: list[File] = []
    left = MAX_BYTES
    for url in urls:
        file = _local(platform, url)
        if file is None:
            ctype, content = await platform.webhooks.download(url, left)
            file = File(ctype or "application/octet-stream", content)
        if len(file.content) > left:
            raise FetchError(11751, "Media exceeds messaging provider size limit", url, 200)
        if not _ACCEPTED.match(file.content_type):
            raise FetchError(12300, f"Invalid Content-Type: {file.content_type}", url, 200)
        left -= len(file.content)
        files.append(file)
    return files


def _local(platform: Platform, url: str) -> File | None:
    base = platform.settings.base_url
    if not url.startswith(base):
        return None
    match = _LOCAL.match(url[len(base) :])
    if match is None:
        return None
    with platform.db.read() as q:
        row = q.first(_CONTENT, sid=match.group(1))
    return None if row is None else File(row["content_type"], bytes(row["content"]))


def store(q: Raw, account_sid: str, message_sid: str, files: list[File]) -> None:
    now = utcnow()
    q.many(
        _INSERT,
        [
            {
                "sid": new_sid("ME"),
                "account_sid": account_sid,
                "message_sid": message_sid,
                "content_type": f.content_type,
                "content": f.content,
                "date_created": now,
                "date_updated": now,
            }
            for f in files
        ],
    )


def media_url(base_url: str, account_sid: str, message_sid: str, media_sid: str) -> str:
    return f"{base_url}/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


def urls_of(q: Raw, base_url: str, message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(URL, content type) of each medium of a message, as a phone or an app is given them."""
    return [
        (media_url(base_url, message["account_sid"], message["sid"], m["sid"]), m["content_type"])
        for m in q.all(_OF_MESSAGE, sid=message["sid"])
    ]
