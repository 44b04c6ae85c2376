"""Messaging engine: segments, status machine, outbound sending and inbound routing."""
