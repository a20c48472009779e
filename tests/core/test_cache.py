"""The cache of operating points between runs (cryoplan.cache): the same result without CoolProp,
damaged entries computed again, errors never kept, and off when asked."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from cryoplan import cache
from cryoplan.cryogen.design import family_design
from cryoplan.cryogen.operation import operate
from cryoplan.cryogen.thermo import CryogenSupply
from cryoplan.errors import InputError

DESIGN = family_design("jt-n2o", 2.108e-3, 6e-3)

# a fresh process: the operating point of the test probe, and whether CoolProp was imported for it
PROBE = """
import pickle, sys
from cryoplan.cryogen.coolprop import loaded
from cryoplan.cryogen.design import family_design
from cryoplan.cryogen.operation import operate
from cryoplan.cryogen.thermo import CryogenSupply, resolve_supply
supply = resolve_supply(CryogenSupply("n2o"))  # the check every run makes first
op = operate(family_design("jt-n2o", 2.108e-3, 6e-3), CryogenSupply("n2o"))
sys.stdout.buffer.write(pickle.dumps((op.mass_flow, op.tip_pressure, op.law.temperature, loaded(),
                                      supply.supply_pressure_pa)))
"""


def _fresh(env: dict) -> tuple:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, env=env, timeout=120,
                          check=True)
    return pickle.loads(done.stdout)


def test_a_second_process_gets_the_same_operating_point_without_importing_coolprop(tmp_path):
    env = {**os.environ, "CRYOPLAN_CACHE_DIR": str(tmp_path)}
    first, second = _fresh(env), _fresh(env)
    assert first[3] is True and second[3] is False  # computed with CoolProp, then read back
    assert first[:2] == second[:2] and np.array_equal(first[2], second[2])
    assert first[4] == second[4] == pytest.approx(50.5e5, rel=0.01)  # the cylinder's vapour pressure
    assert len(list((tmp_path / "operating-point").glob("*.pickle"))) == 1
    assert {p.parent.name for p in tmp_path.rglob("*.pickle")} == {"operating-point", "supply"}


def test_a_damaged_entry_is_computed_again_and_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPLAN_CACHE_DIR", str(tmp_path))
    operate.cache_clear()  # an earlier test of this process may have operated the same probe
    right = operate(DESIGN, CryogenSupply("n2o"))
    (entry,) = (tmp_path / "operating-point").glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    operate.cache_clear()  # this process's own cache: as in a new process
    again = operate(DESIGN, CryogenSupply("n2o"))
    assert again.mass_flow == right.mass_flow
    assert pickle.loads(entry.read_bytes()).mass_flow == right.mass_flow  # rewritten
    monkeypatch.setenv("CRYOPLAN_CACHE_DIR", "")
    assert cache.folder() is None
    calls = []
    assert [cache.kept("example", 1, lambda: calls.append(1) or 49) for _ in range(2)] == [49, 49]
    assert len(calls) == 2


def test_a_probe_that_cannot_run_fails_each_time_and_leaves_no_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPLAN_CACHE_DIR", str(tmp_path))
    low = CryogenSupply("n2o", supply_pressure_pa=0.5e5)
    for _ in range(2):
        operate.cache_clear()
        with pytest.raises(InputError):
            operate(DESIGN, low)
    assert not list(tmp_path.rglob("*.pickle"))


def test_another_key_or_another_source_is_another_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPLAN_CACHE_DIR", str(tmp_path))
    assert cache.kept("example", ("a",), lambda: 1) == 1
    assert cache.kept("example", ("b",), lambda: 2) == 2
    assert cache.kept("example", ("a",), lambda: 3) == 1
    monkeypatch.setattr(cache, "_stamp", lambda: "the cryogen modules changed")
    assert cache.kept("example", ("a",), lambda: 4) == 4


def test_an_anatomy_s_resting_temperature_is_solved_once(tmp_path, monkeypatch):
    """The same grid again is read back, not solved; another material is another entry."""
    from cryoplan.thermal import steady
    from cryoplan.thermal.voxels import VoxelGrid
    from cryoplan.tissue.library import get_tissue

    monkeypatch.setenv("CRYOPLAN_CACHE_DIR", str(tmp_path))
    grid = VoxelGrid.uniform((6, 7, 8), 1e-3, (get_tissue("muscle"), get_tissue("fat")))
    grid.material[:, :, :4] = 1
    first = steady.resting_temperature(grid)
    assert np.array_equal(first, steady.steady_temperature(grid))

    def unexpected(*_):
        raise AssertionError("solved again")

    monkeypatch.setattr(steady, "steady_temperature", unexpected)
    assert np.array_equal(steady.resting_temperature(grid), first)
    grid.material[:, :, :4] = 0
    with pytest.raises(AssertionError, match="solved again"):
        steady.resting_temperature(grid)


def test_each_kind_keeps_its_newest_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYOPLAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "KEEP", 3)
    for k in range(5):
        cache.kept("example", k, lambda k=k: k)
    assert len(list((tmp_path / "example").glob("*.pickle"))) == 3
    assert cache.kept("example", 4, lambda: "computed again") == 4  # the newest is kept


def _coolprop_loaded() -> bool:
    from cryoplan.cryogen.coolprop import loaded

    return loaded()


def test_the_web_planner_s_fork_server_has_coolprop_imported_for_its_runs():
    """cryoplan's modules only make CoolProp ready to import; the fork server the web planner's
    runs come from imports it in full once, so no run pays its import."""
    from concurrent.futures import ProcessPoolExecutor

    from cryoplan.procs import preloaded_context

    with ProcessPoolExecutor(1, mp_context=preloaded_context()) as pool:
        assert pool.submit(_coolprop_loaded).result(timeout=120)
