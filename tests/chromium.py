"""Debian's chromium as the tests launch it (Playwright drives it; nothing is downloaded)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own traffic to Google's hosts would be refused on a closed network, slowly: switched off.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A browser phone: fake devices stand for a microphone and the user's consent to it; media over loopback
# only (the server offers 127.0.0.1 through TELEPHONIST_WEBRTC_HOST, and so may chromium).
MEDIA = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]
