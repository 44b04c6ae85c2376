"""`telephonist serve`: the embedded platform on one port (SQLite, simulated network, in-process workers)."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import Any

from pydantic import ValidationError

from telephonist import __version__
from telephonist.config import Settings


def _banner(settings: Settings, sid: str, token: str) -> str:
    base = settings.base_url
    return f"""
Telephonist {__version__} is running (simulated phone network, database {_safe(settings.db)})
  Node           {settings.node} ({settings.role})

  API base URL   {base}
  Account SID    {sid}
  Auth token     {token}
  Phone number   +15005550006
  Console        {base}/console   (sign in with the Account SID and auth token above)
{_smpp_lines(settings)}
Point the twilio SDK at it:
  client = twilio.rest.Client("{sid}", "<auth token above>")
  client.api.base_url = "{base}"
"""


def _safe(url: str) -> str:
    """A database URL as it may be printed: without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _smpp_lines(settings: Settings) -> str:
    lines = [f"  SMPP server    {settings.host}:{settings.smpp_port}\n"] if settings.smpp_port else []
    lines += [
        f"  SMS carrier    {c.name} at {c.host}:{c.port} for {', '.join(c.prefixes) or 'no prefix'}\n"
        for c in settings.smpp_carriers
    ]
    if settings.sip_port:
        lines.append(f"  SIP            udp {settings.sip_host or settings.host}:{settings.sip_port}\n")
    lines += [f"  SIP trunk      {t.name} at {t.host}:{t.port}\n" for t in settings.sip_trunks]
    return "".join(lines)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from telephonist.app import Platform, create_app

    given = (
        ("host", args.host),
        ("port", args.port),
        ("db", args.db),
        ("role", args.role),
        ("node_id", args.node_id),
    )
    overrides = {k: v for k, v in given if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        sys.exit(f"telephonist: invalid settings:\n{exc}")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    platform = Platform(settings)
    platform.prepare()
    print(_banner(settings, platform.account_sid, platform.auth_token), flush=True)
    app = create_app(settings, platform)
    # Everything loaded so far lives as long as the process: keep it out of the collector's full passes.
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        loop="auto",
        http="auto",
    )


def _operator_get(args: argparse.Namespace, path: str) -> Any:
    """GET `path` of a running Telephonist as its operator (the first account, from the server's
    settings or database)."""
    import httpx
    from sqlalchemy import select

    from telephonist.store.db import Database
    from telephonist.store.models import accounts

    settings = Settings(**({"db": args.db} if args.db else {}))
    sid, token = settings.account_sid, settings.auth_token
    if not (sid and token):  # the operator's own account, from the database the server uses
        db = Database(settings.db)
        with db.tx() as conn:
            first = conn.execute(select(accounts).order_by(accounts.c.seq).limit(1)).mappings().first()
        db.close()
        if first is None:
            sys.exit("telephonist: no account in the database yet; has the server run?")
        sid, token = first["sid"], first["auth_token"]
    url = (args.url or settings.base_url).rstrip("/")
    try:
        r = httpx.get(f"{url}{path}", auth=(sid, token), timeout=10)
    except httpx.HTTPError as exc:
        sys.exit(f"telephonist: cannot reach {url}: {exc}")
    if r.status_code != 200:
        sys.exit(f"telephonist: {url}{path} answered {r.status_code}")
    return r.json()


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def carriers(args: argparse.Namespace) -> None:
    """Each SMPP bind of a running Telephonist: state, counters, throughput, last error."""
    rows = _operator_get(args, "/carriers.json")["carriers"]
    if not rows:
        print("No SMPP carriers configured: every message goes to the simulated network.")
        return
    header = (
        "CARRIER",
        "SMSC",
        "STATE",
        "SUBMITTED",
        "ACCEPTED",
        "REFUSED",
        "THROTTLED",
        "MSG/S",
        "LAST ERROR",
    )
    _table(
        header,
        [
            (
                c["name"],
                f"{c['host']}:{c['port']}",
                c["state"],
                str(c["submitted"]),
                str(c["accepted"]),
                str(c["refused"]),
                str(c["throttled"]),
                str(c["per_second"]),
                c["last_error"] or "-",
            )
            for c in rows
        ],
    )


def sip(args: argparse.Namespace) -> None:
    """SIP of a running Telephonist: its trunks, the phones registered, the calls in progress."""
    state = _operator_get(args, "/sip.json")
    if state["listening"] is None:
        print("SIP is off (set TELEPHONIST_SIP_PORT).")
        return
    print(f"SIP on {state['listening']}\n")
    if args.what in ("trunks", "all"):
        _table(
            ("TRUNK", "SID", "ADDRESS", "PREFIXES", "MAX CPS", "CALLS"),
            [
                (
                    t["name"],
                    t["sid"],
                    t["address"],
                    ",".join(t["prefixes"]) or "-",
                    str(t["max_cps"] or "-"),
                    str(t["calls"]),
                )
                for t in state["trunks"]
            ],
        )
        print()
    if args.what in ("registrations", "all"):
        _table(
            ("USER", "CONTACT", "FROM", "EXPIRES IN"),
            [(r["aor"], r["contact"], r["source"], f"{r['expires_in']} s") for r in state["registrations"]],
        )
        print()
    if args.what in ("calls", "all"):
        _table(
            (
                "CALL",
                "SIP CALL-ID",
                "DIRECTION",
                "TRUNK",
                "REMOTE",
                "CODEC",
                "STATE",
                "SECONDS",
                "RTP OUT/IN",
            ),
            [
                (
                    c["call_sid"],
                    c["sip_call_id"],
                    c["direction"],
                    c["trunk"] or "-",
                    c["remote"] or "-",
                    c["codec"],
                    c["state"],
                    str(c["seconds"]),
                    f"{c['rtp_sent']}/{c['rtp_received']}",
                )
                for c in state["calls"]
            ],
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="telephonist", description="Self-hosted Twilio-compatible Voice & SMS"
    )
    parser.add_argument("--version", action="version", version=f"telephonist {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="start the platform")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--db", help="database URL, e.g. sqlite:///telephonist.db or postgresql+psycopg://…")
    s.add_argument(
        "--role",
        choices=("all", "api", "engine"),
        help="all (default): everything in one process; api: the REST API and console only; "
        "engine: jobs, calls, SIP and SMPP (several of each share one PostgreSQL database)",
    )
    s.add_argument("--node-id", help="this process's id among the nodes (default: host name and port)")
    s.set_defaults(func=serve)
    c = sub.add_parser("carriers", help="show the SMPP binds of a running server")
    c.add_argument("--url", help="the server's base URL (default: from the settings)")
    c.add_argument("--db", help="database URL, to read the operator account's credentials from")
    c.set_defaults(func=carriers)
    p = sub.add_parser("sip", help="show the SIP trunks, registrations and live calls of a running server")
    p.add_argument("what", nargs="?", choices=("all", "trunks", "registrations", "calls"), default="all")
    p.add_argument("--url", help="the server's base URL (default: from the settings)")
    p.add_argument("--db", help="database URL, to read the operator account's credentials from")
    p.set_defaults(func=sip)
    args = parser.parse_args(argv)
    args.func(args)
