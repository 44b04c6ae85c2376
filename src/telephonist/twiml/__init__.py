"""TwiML, sans-IO: parse XML documents into typed verbs (voice and messaging). No sockets, no clock."""

from telephonist.twiml.parse import TwiMLError, parse_messaging, parse_voice

__all__ = ["TwiMLError", "parse_messaging", "parse_voice"]
