"""The simulated phone network: every number nobody owns is a virtual phone that exists on first use."""

from telephonist.carriers.sim.network import SimLeg, SimNetwork

__all__ = ["SimLeg", "SimNetwork"]
