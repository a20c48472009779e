"""The phase-change material model and the tissue library."""

import numpy as np
import pytest

from cryoplan.errors import InputError
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal import ProbeModel, ThermalProblem, axisymmetric_grid, solve
from cryoplan.tissue import Tissue, get_tissue, tissue_names
from cryoplan.tissue import enthalpy as ent
from cryoplan.tissue.library import is_bench_medium
from cryoplan.units import c_to_k


def test_enthalpy_and_temperature_are_inverse(reference_tissue):
    tis = reference_tissue()
    t = np.linspace(150.0, 320.0, 2001)
    assert np.allclose(tis.temperature(tis.enthalpy(t)), t, atol=1e-9)


def test_latent_heat_is_released_over_the_freezing_range(reference_tissue):
    tis = reference_tissue()
    h_s, h_l = tis.enthalpy([tis.t_solidus, tis.t_liquidus])
    sensible = 0.5 * (tis.c_frozen + tis.c_unfrozen) * (tis.t_liquidus - tis.t_solidus)
    assert h_l - h_s == pytest.approx(tis.latent_heat + sensible)


def test_kirchhoff_variable_is_the_integral_of_conductivity(reference_tissue):
    p = reference_tissue().row()[None, :]
    ts = np.linspace(250.0, 290.0, 4001)
    u = np.array([ent.kirchhoff(x, p, 0) for x in ts])
    k = np.array([ent.conductivity(x, p, 0) for x in ts])
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (k[1:] + k[:-1]) * np.diff(ts))])
    assert np.allclose(u - u[0], integral, atol=1e-6)


def test_library_has_every_tissue_with_sources():
    names = set(tissue_names())
    assert {"muscle", "fat", "nerve", "skin", "cortical-bone", "cancellous-bone"} <= names
    for name in names:
        t = get_tissue(name)
        assert t.k_frozen > t.k_unfrozen  # ice conducts ~4x better than water
        assert t.c_frozen < t.c_unfrozen
        assert t.latent_heat > 0 and t.perfusion_per_s >= 0 and t.metabolic >= 0
        if name != "csf" and not is_bench_medium(name):  # CSF (IT'IS) and bench media: neither
            assert t.perfusion_per_s > 0 and t.metabolic > 0  # perfused nor metabolising
        else:
            assert t.perfusion_per_s == 0 and t.metabolic == 0
        for key in ("density", "specific_heat", "conductivity", "perfusion", "metabolic",
                    "water_mass_fraction", "frozen", "latent_heat", "freezing_range"):
            assert t.sources.get(key), f"{name}: {key} uncited"


def test_fat_freezes_less_than_muscle():
    assert get_tissue("fat").latent_heat < 0.3 * get_tissue("muscle").latent_heat


def test_inverted_freezing_range_is_rejected():
    with pytest.raises(InputError, match="t_solidus_c"):
        Tissue("x", 0.5, 2.0, 3.6e6, 1.8e6, 2.5e8, 272.15, 265.15)


def test_non_positive_conductivity_is_rejected():
    with pytest.raises(InputError, match="k_frozen_w_per_m_k"):
        Tissue("x", 0.5, 0.0, 3.6e6, 1.8e6, 2.5e8, 265.15, 272.15)


def test_unknown_tissue():
    with pytest.raises(InputError, match="tissue.type"):
        get_tissue("liverwurst")


ORGANS = ("liver", "kidney", "lung-aerated", "lung-collapsed")


@pytest.mark.parametrize("name", ORGANS)
def test_organs_load_with_physical_frozen_properties(name):
    t = get_tissue(name)
    assert name in tissue_names() and not is_bench_medium(name)
    assert t.k_frozen > t.k_unfrozen and t.c_frozen < t.c_unfrozen  # water freezes to ice
    assert 0.0 < t.latent_heat < 3.34e8  # less than pure water's per volume
    assert t.perfusion_per_s > 0 and t.metabolic > 0
    assert 310.15 < t.resting_temperature < 311.15


def test_aerated_lung_holds_a_third_of_the_water_per_volume():
    """Its air (62 % of the volume) neither freezes nor conducts: the latent heat and the frozen
    conductivity's rise follow the water per volume, 394/1050 of collapsed lung's."""
    aerated, collapsed, muscle = (get_tissue(n) for n in ("lung-aerated", "lung-collapsed", "muscle"))
    rise = (aerated.k_frozen - aerated.k_unfrozen) / (collapsed.k_frozen - collapsed.k_unfrozen)
    assert rise == pytest.approx(394 * 0.79 / (1050 * 0.80), rel=1e-9)
    assert aerated.latent_heat / collapsed.latent_heat == pytest.approx(394 * 0.79 / (1050 * 0.80))
    assert aerated.k_frozen < 0.55 * muscle.k_frozen  # much less ice to conduct through
    assert "air" in aerated.sources["frozen"]


def test_kidney_is_the_most_perfused_tissue():
    kidney = get_tissue("kidney").perfusion_per_s
    assert all(kidney >= get_tissue(n).perfusion_per_s for n in tissue_names())


def _short_freeze(tissue):
    grid = axisymmetric_grid(1.0e-3, 6e-3, 8e-3, 0.5e-3, growth=1.2, uniform_extent=4e-3)
    probe = ProbeModel(2.0e-3, 6e-3, "fixed-temperature", wall_temperature=c_to_k(-80.0))
    problem = ThermalProblem(grid, tissue, probe, Protocol.of([Phase("freeze", 30.0)]),
                             initial_temperature=tissue.resting_temperature, output_interval=10.0)
    return solve(problem)


@pytest.mark.parametrize("name", ORGANS)
def test_a_short_freeze_in_each_organ_completes(name):
    res = _short_freeze(get_tissue(name))
    assert res.energy_balance_error < 1e-9
    assert 1.0e-3 < res.isotherms[273.15].radius[-1] < 8e-3  # an ice ball, inside the domain
