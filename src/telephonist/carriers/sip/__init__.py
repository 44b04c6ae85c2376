"""SIP carrier for voice trunks: a sans-IO RFC 3261 message codec, transactions and dialogs, and their I/O."""
