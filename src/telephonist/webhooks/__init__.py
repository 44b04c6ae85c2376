"""Outbound HTTP to applications: signed webhook requests, TwiML fetches with fallback, status callbacks."""
