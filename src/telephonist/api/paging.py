"""Twilio's paging envelope with keyset tokens: `PA<seq>` pages after a row, `PB<seq>` before it; the token
carries the position itself, so deleting rows while a client walks the pages skips nothing.

Rows are listed newest first by `seq`, so messages created while a client walks the pages never shift it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Connection, Table, select

from telephonist.api.errors import TwilioError
from telephonist.api.forms import Params

MAX_PAGE_SIZE = 1000
# OFFSET and seq are signed 64-bit integers in SQLite and PostgreSQL: past that a query fails, not a page.
MAX_OFFSET = 2**63 - 1
_TOKEN = re.compile(r"P([AB])([0-9]{1,18})")


def paginate(
    conn: Connection,
    table: Table,
    where: Sequence[ColumnElement[bool]],
    params: Params,
    path: str,
    filters: Sequence[tuple[str, str]],
    list_key: str,
    render: Callable[[Any], dict[str, Any]],
    columns: Sequence[ColumnElement[Any]] = (),
) -> dict[str, Any]:
    """One page of `table`'s rows (only `columns` of them, when given) matching `where`."""
    # twilio 9.x sends PageSize=N for list(limit=N) even past 1000; cap it instead of failing the call.
    page_size = max(1, min(params.integer("PageSize", 50, code=20007), MAX_PAGE_SIZE))
    page = max(0, params.integer("Page", 0))
    if page * page_size > MAX_OFFSET:
        raise TwilioError(20422, f"Invalid Page: {page}")
    token = params.get("PageToken") or ""
    query = (select(*columns) if columns else select(table)).where(*where)
    backwards = False
    match = _TOKEN.fullmatch(token)  # anything else is no token of ours: the page is read by its number
    anchor = int(match[2]) if match else None
    if match and match[1] == "A":
        query = query.where(table.c.seq < anchor).order_by(table.c.seq.desc())
    elif match:
        backwards = True
        query = query.where(table.c.seq > anchor).order_by(table.c.seq.asc())
    else:
        query = query.order_by(table.c.seq.desc()).offset(page * page_size)
    rows = list(conn.execute(query.limit(page_size + 1)).mappings())
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()

    def uri(p: int, tok: str | None) -> str:
        pairs = [*filters, ("PageSize", str(page_size)), ("Page", str(p))]
        if tok:
            pairs.append(("PageToken", tok))
        return f"{path}?{urlencode(pairs)}"

    has_next = backwards or more  # a PB page always has the anchor row after it
    start = page * page_size
    return {
        "first_page_uri": uri(0, None),
        "end": start + len(rows) - 1 if rows else 0,
        "previous_page_uri": uri(page - 1, f"PB{rows[0]['seq']}") if page > 0 and rows else None,
        list_key: [render(r) for r in rows],
        "uri": uri(page, token or None),
        "page_size": page_size,
        "start": start,
        "next_page_uri": uri(page + 1, f"PA{rows[-1]['seq']}") if has_next and rows else None,
        "page": page,
    }
