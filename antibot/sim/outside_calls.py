"""What the legitimate profiles share about people's outside calls (label 0 traffic): office
hours, the numbers people dial and how their calls end."""

from __future__ import annotations

import random

from . import plans
from .base import CallModel, Shape, pick

OFFICE_HOURS = Shape(
    (0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.08, 0.25, 0.65, 1.0, 1.0, 0.95)
    + (0.6, 0.9, 1.0, 0.95, 0.8, 0.45, 0.2, 0.1, 0.06, 0.04, 0.03, 0.02),
    weekend=0.08,
)

EXTERNAL_FAILS = ((487, 0.4), (486, 0.2), (480, 0.25), (404, 0.05), (603, 0.1))
OFFICE_EXTERNAL = CallModel(0.67, (150.0, 1.0, 5.0, 7200.0), EXTERNAL_FAILS)


def external_number(rng: random.Random) -> str:
    """A number a person dials: mostly local, then national, toll-free, international."""
    kind = pick(rng, (("local", 0.5), ("national", 0.38), ("tollfree", 0.07), ("intl", 0.05)))
    if kind == "local":
        return plans.local_number(rng)
    if kind == "tollfree":
        return plans.nanp(rng, rng.choice(plans.TOLL_FREE))
    if kind == "intl":
        return "011" + plans.international(rng)
    return plans.nanp(rng)
