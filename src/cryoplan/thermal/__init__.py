"""Bioheat solver with freezing: grids, the compiled kernel, probe boundaries, isotherm sizes,
thermal history, and the exact solutions used to verify it."""

from cryoplan.thermal.grid import Grid, axisymmetric_grid, planar_grid, radial_grid
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.solver import ThermalProblem, ThermalResult, solve

__all__ = [
    "Grid",
    "ProbeModel",
    "ThermalProblem",
    "ThermalResult",
    "axisymmetric_grid",
    "planar_grid",
    "radial_grid",
    "solve",
]
