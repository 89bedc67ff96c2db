"""Labelled SIP traffic simulator: real SIP requests from people and bots, with ground truth.

``generate(profiles, duration=..., seed=...)`` yields :class:`SimEvent` in time order; the
profiles are documented in :mod:`antibot.sim.profiles`; ``antibot simulate`` (:mod:`.cli`)
writes them as JSON lines.
"""

from .generator import SimEvent, generate
from .profiles import PROFILES, Profile

__all__ = ["PROFILES", "Profile", "SimEvent", "generate"]
