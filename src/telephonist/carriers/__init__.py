"""Carriers: the only code that knows how bits reach a phone. The simulated network is the default."""
