"""`telephonist serve`: the embedded platform on one port (SQLite, simulated network, in-process workers)."""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from pydantic import ValidationError

from telephonist import __version__
from telephonist.config import Settings


def _banner(settings: Settings, sid: str, token: str) -> str:
    base = settings.base_url
    return f"""
Telephonist {__version__} is running (simulated phone network, database {settings.db})

  API base URL   {base}
  Account SID    {sid}
  Auth token     {token}
  Phone number   +15005550006
  Console        {base}/console   (arrives with the web console; the REST API and {base}/sim/v1 are live)

Point the twilio SDK at it:
  client = twilio.rest.Client("{sid}", "<auth token above>")
  client.api.base_url = "{base}"
"""


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from telephonist.app import Platform, create_app

    overrides = {
        k: v for k, v in (("host", args.host), ("port", args.port), ("db", args.db)) if v is not None
    }
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="telephonist", description="Self-hosted Twilio-compatible Voice & SMS"
    )
    parser.add_argument("--version", action="version", version=f"telephonist {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="start the platform")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--db", help="database URL, e.g. sqlite:///telephonist.db")
    s.set_defaults(func=serve)
    args = parser.parse_args(argv)
    args.func(args)
