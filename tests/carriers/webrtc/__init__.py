"""Tests of the browser phone: access tokens, signalling and real audio with chromium."""
