"""The probe as a boundary condition: what the tissue sees at the cooled surface.

A ``cryogen`` probe has gas boiling (or expanded) at the cryogen model's outlet temperature
behind an internal heat-transfer coefficient h, with its refrigeration limited to
m_dot q(T_gas) (``cryoplan.cryogen.thermo``), so a weak probe warms under load. A
``fixed-temperature`` probe holds its wall at a set temperature (the limit h -> infinity with
unlimited refrigeration; used for verification). A ``heat-flow`` probe extracts a set power
(W), spread over its cooled surface by area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cryoplan.cryogen.thermo import Expansion
from cryoplan.protocol import DEFAULT_ACTIVE_THAW_K, Phase
from cryoplan.thermal.kernel import CRYOGEN, GAS, HEAT_FLOW, OFF, WALL

Boundary = Literal["cryogen", "fixed-temperature", "heat-flow"]


@dataclass(frozen=True)
class ProbeModel:
    """Probe geometry and cooling (SI units)."""

    diameter: float
    active_length: float
    boundary: Boundary
    wall_temperature: float | None = None  # fixed-temperature probes
    expansion: Expansion | None = None  # cryogen probes
    mass_flow: float = 0.0
    internal_htc: float = 5000.0
    power: float | None = None  # heat-flow probes, W

    @property
    def radius(self) -> float:
        return 0.5 * self.diameter

    def refrigeration_curve(self) -> tuple[np.ndarray, np.ndarray]:
        if self.expansion is None:
            return np.array([0.0, 1.0]), np.array([0.0, 0.0])
        return self.expansion.refrigeration_curve()

    def mode(self, phase: Phase) -> tuple[int, float]:
        """Kernel mode and set temperature for a protocol phase."""
        if phase.kind == "passive-thaw":
            return OFF, float("nan")
        if phase.kind == "active-thaw":
            t = phase.temperature_k or DEFAULT_ACTIVE_THAW_K
            return (WALL if self.boundary == "fixed-temperature" else GAS), t
        if self.boundary == "fixed-temperature":
            assert self.wall_temperature is not None
            return WALL, self.wall_temperature
        if self.boundary == "heat-flow":
            assert self.power is not None
            return HEAT_FLOW, self.power
        assert self.expansion is not None
        return CRYOGEN, self.expansion.outlet_temperature_k
