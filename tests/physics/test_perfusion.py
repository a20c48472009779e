"""Perfusion that falls with temperature and stops for good once a cell has frozen
(``tissue.perfusion``), in the axisymmetric and the 3D solver."""

import numpy as np
import pytest

from cryoplan.config import parse
from cryoplan.errors import InputError
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal import ProbeModel, ThermalProblem, axisymmetric_grid, solve
from cryoplan.thermal.placement import PlacedProbe
from cryoplan.thermal.solver import PerfusionModel
from cryoplan.thermal.solver3d import ThermalProblem3D, solve3d
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.tissue import enthalpy as ent
from cryoplan.tissue import get_tissue
from cryoplan.tissue.perfusion import (
    CONSTANT,
    DEFAULT_MODEL,
    PERFUSION_MODELS,
    TEMPERATURE_DEPENDENT,
    perfusion_weight,
    reference_temperatures,
)
from cryoplan.units import c_to_k

WALL = c_to_k(-88.5)  # N2O boiling at 1 atm


def _run(tissue, model, phases, extent=12e-3, spacing=0.5e-3, **kw):
    grid = axisymmetric_grid(1.0e-3, 6e-3, extent, spacing, growth=1.15, uniform_extent=8e-3)
    probe = ProbeModel(2.0e-3, 6e-3, "fixed-temperature", wall_temperature=WALL)
    return solve(ThermalProblem(grid, tissue, probe, Protocol.of(phases), perfusion=model,
                                initial_temperature=tissue.resting_temperature, **kw))


def test_the_schema_and_the_solver_name_the_same_models():
    assert PerfusionModel.__args__ == PERFUSION_MODELS
    assert parse({"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [
        {"kind": "freeze", "seconds": 60}]}}).tissue.perfusion == DEFAULT_MODEL == "temperature-dependent"
    with pytest.raises(InputError, match="perfusion"):
        parse({"probe": {"catalog": "n2o-2.0mm"}, "tissue": {"perfusion": "variable"},
               "protocol": {"phases": [{"kind": "freeze", "seconds": 60}]}})


def test_the_weight_falls_linearly_to_the_liquidus_and_stays_zero_after_a_freeze():
    p = get_tissue("liver").row()[None, :]
    t_l, t_ref = p[0, ent.T_L], 310.15
    mid = 0.5 * (t_l + t_ref)
    assert perfusion_weight(mid, 1.0, mid, t_ref, TEMPERATURE_DEPENDENT, p, 0) == pytest.approx(0.5)
    assert perfusion_weight(t_ref + 2, 1.0, t_ref, t_ref, TEMPERATURE_DEPENDENT, p, 0) == 1.0
    assert perfusion_weight(t_l - 3, 0.5, t_l - 3, t_ref, TEMPERATURE_DEPENDENT, p, 0) == 0.0
    assert perfusion_weight(t_ref, 1.0, t_l, t_ref, TEMPERATURE_DEPENDENT, p, 0) == 0.0  # thawed: stasis
    assert perfusion_weight(t_l - 3, 0.5, t_l - 3, t_ref, CONSTANT, p, 0) == 0.5  # the unfrozen fraction
    skin_cooled = reference_temperatures(np.array([306.0]), np.zeros(1, dtype=np.int64), p)
    assert skin_cooled[0] == 306.0  # full flow at its resting temperature


def test_without_cold_the_temperature_dependent_model_is_the_constant_one():
    """Tissue at rest with the gas off never drops below the knee: the fields agree exactly."""
    tissue = get_tissue("kidney")
    runs = [_run(tissue, m, [Phase("passive-thaw", 20.0)], output_interval=10.0) for m in PERFUSION_MODELS]
    assert np.array_equal(runs[0].temperature, runs[1].temperature)
    assert runs[0].energy == runs[1].energy


def test_a_frozen_then_thawed_cell_has_no_perfusion_source():
    """After a freeze and an active thaw, one more explicit step's perfusion heat is exactly the
    sum over the cells that never reached the liquidus; the thawed cells would add to it."""
    tissue = get_tissue("liver")
    phases = [Phase("freeze", 40.0), Phase("active-thaw", 40.0, 310.15)]
    before = _run(tissue, "temperature-dependent", phases, output_interval=40.0)
    dt = 0.5 * before.time_step
    after = _run(tissue, "temperature-dependent", [*phases, Phase("passive-thaw", dt)], output_interval=40.0)
    grid, t, t_min = before.grid, before.temperature, before.history.min_temperature
    t_l = tissue.t_liquidus
    thawed = grid.tissue & (t_min <= t_l) & (t > t_l)
    assert thawed.sum() > 10
    sink = tissue.perfusion_per_s * tissue.blood_heat_capacity * (tissue.t_arterial - t) * grid.volume
    weight = np.where(t_min > t_l, np.clip((t - t_l) / (tissue.t_arterial - t_l), 0.0, 1.0), 0.0)
    step = after.energy["perfusion_j"] - before.energy["perfusion_j"]
    assert step == pytest.approx(dt * (weight * sink)[grid.tissue].sum(), rel=1e-9)
    assert dt * sink[thawed].sum() > 0.2 * abs(step)  # what the thawed cells would have added


@pytest.mark.parametrize(("name", "low", "high"), [("muscle", 1.0, 1.02), ("liver", 1.03, 1.12),
                                                   ("kidney", 1.10, 1.30)])
def test_the_ice_ball_grows_larger_when_cold_stops_the_blood_flow(name, low, high):
    """2 min at -88.5 C (2 mm probe, 6 mm active): the heat sink is smaller, so the 0 C radius
    grows, the more the more perfused the tissue (muscle +0.4 %, liver +6 %, kidney +16 %)."""
    tissue = get_tissue(name)
    runs = {m: _run(tissue, m, [Phase("freeze", 120.0)], output_interval=30.0) for m in PERFUSION_MODELS}
    radius = {m: r.isotherms[273.15].radius[-1] for m, r in runs.items()}
    assert low < radius["temperature-dependent"] / radius["constant"] < high
    for r in runs.values():
        assert r.energy_balance_error < 1e-9


def test_3d_runs_the_same_model():
    """In the voxel solver too: the energy balances, the ice ball grows and matches the
    axisymmetric solver's growth."""
    kidney = get_tissue("kidney")
    grid = VoxelGrid.uniform((28, 28, 28), 0.5e-3, (kidney,))
    probe = PlacedProbe.at(ProbeModel(2.0e-3, 4e-3, "fixed-temperature", wall_temperature=WALL),
                           tip=(0, 0, -2e-3), axis=(0, 0, 1))
    runs = {m: solve3d(ThermalProblem3D(grid, (probe,), Protocol.of([Phase("freeze", 30.0)]), perfusion=m,
                                        output_interval=10.0)) for m in PERFUSION_MODELS}
    for r in runs.values():
        assert r.energy_balance_error < 1e-9
    volume = {m: r.isotherms[273.15].volume[-1] for m, r in runs.items()}
    grow = volume["temperature-dependent"] / volume["constant"]
    assert 1.05 < grow < 1.6
    assert runs["temperature-dependent"].energy["perfusion_j"] < runs["constant"].energy["perfusion_j"]
