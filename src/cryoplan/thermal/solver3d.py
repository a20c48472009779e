"""Run a 3D thermal problem (voxel grid, several placed probes) through its protocol.

Time stepping is RKL2 super-time-stepping (``rkl.py``): explicit steps are limited by the frozen
tissue's diffusivity (dt <= dx^2 / (6 alpha_frozen), about 9 ms at 0.25 mm), while an s-stage
RKL2 step covers (s^2 + s - 2)/4 of them for s sweeps, so a 1 s step at 0.25 mm costs ~22 sweeps
instead of ~115. It stays second order in time and fully explicit, so the probe's nonlinear
cryogen boundary is evaluated at every stage exactly as in the axisymmetric solver.

RKL2 is not monotone at large steps: its stages overshoot where a voxel crosses the freezing
range. Against the comparison principle (a second probe can only cool), 2 s steps left local
errors of up to 0.4 K in frozen voxels near a probe (0.25 K at 0.5 s, none at 0.1 s), while the
isotherm radii moved by less than 0.2 % between 0.5 s and 4 s steps (benchmarks/README.md).

Heat is conserved to round-off: every flow into or out of a voxel is recombined with the same
stage weights as the enthalpy, so ``energy_balance_error`` closes.

>>> import numpy as np
>>> from cryoplan.protocol import Phase, Protocol
>>> from cryoplan.thermal.placement import PlacedProbe
>>> from cryoplan.thermal.probe import ProbeModel, ProbeWall
>>> from cryoplan.thermal.voxels import VoxelGrid
>>> from cryoplan.tissue.library import get_tissue
>>> grid = VoxelGrid.uniform((24, 24, 24), 0.5e-3, (get_tissue("muscle"),))
>>> probe = PlacedProbe.at(ProbeModel(1.6e-3, 4e-3, "fixed-temperature", wall_temperature=233.15),
...                        tip=(0, 0, -2e-3), axis=(0, 0, 1))
>>> res = solve3d(ThermalProblem3D(grid, (probe,), Protocol.of([Phase("freeze", 20)])))
>>> bool(2.2e-3 < res.isotherms[273.15].radius[-1, 0] < 2.7e-3), res.energy_balance_error < 1e-9
(True, True)
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from cryoplan.procs import threads_here
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal import kernel, kernel3d, rkl
from cryoplan.thermal.history import ThermalHistory
from cryoplan.thermal.isotherms3d import measure
from cryoplan.thermal.placement import PlacedProbe, ProbeFaces, rasterise
from cryoplan.thermal.probe import ProbeWall, tip_temperature
from cryoplan.thermal.solver import PerfusionModel, energy_balance_error
from cryoplan.thermal.steady import unsteady_voxels
from cryoplan.thermal.voxels import VoxelGrid, boundary_faces, neighbour
from cryoplan.tissue.enthalpy import C_F, C_U, K_F, K_U, PERFUSION, enthalpy_array
from cryoplan.tissue.perfusion import model_code, reference_temperatures

#: Fraction of the forward-Euler limit used as RKL2's explicit step.
SAFETY = 0.9
#: A voxel differing from its start by more than this (K) is disturbed; the solver updates only a
#: box around the disturbed voxels (``BOX_MARGIN`` wider), the rest stays at rest.
DISTURBED_K = 1e-3
#: Voxels of tissue at rest kept round the disturbed ones in the active box. Unfrozen tissue's
#: heat diffuses about sqrt(alpha tau) = 0.75 mm (a voxel at the planner's 0.75 mm) in a 4 s
#: step, so a step rarely disturbs the box's outer layer; where it does (``Run3D._step``), the
#: step is redone in a box this much wider on that side.
BOX_MARGIN = 4
#: Longest RKL2 step (s): short enough to follow the freezing front and the probe's gas
#: temperature (the 3D-vs-axisymmetric test holds it to 3 %).
MAX_STEP_S = 2.0


@dataclass(frozen=True)
class ThermalProblem3D:
    """Everything the 3D solver needs (SI units, temperatures in K)."""

    grid: VoxelGrid
    probes: tuple[PlacedProbe, ...]
    protocol: Protocol
    initial_temperature: float | None = None  # None: each tissue at its resting temperature
    isotherms: tuple[float, ...] = (273.15, 253.15, 233.15)
    history_thresholds: tuple[float, ...] = (273.15, 253.15, 233.15)
    output_interval: float = 1.0
    max_step: float = MAX_STEP_S
    initial_field: np.ndarray | None = None
    probe_protocols: tuple[Protocol | None, ...] = ()  # a probe's own protocol (None: the shared one)
    perfusion: PerfusionModel = "constant"  # how blood flow responds to cold (tissue.perfusion)


@dataclass
class IsothermSeries3D:
    """At each output time: volume (m^3), and per probe radius and length (m), shaped (n_t, n_probes)."""

    volume: np.ndarray
    radius: np.ndarray
    length: np.ndarray


@dataclass
class ThermalResult3D:
    times: np.ndarray
    phase: list[str]
    tip_temperature: np.ndarray  # (n_t, n_probes) mean cooled-wall temperature, K
    gas_temperature: np.ndarray  # (n_t, n_probes)
    cooling_power: np.ndarray  # (n_t, n_probes) W over the last interval
    isotherms: dict[float, IsothermSeries3D]
    temperature: np.ndarray
    history: ThermalHistory
    grid: VoxelGrid
    faces: ProbeFaces
    time_step: float  # the explicit (forward-Euler) limit
    stages: int  # RKL2 stages per step, the most used
    sweeps: int  # stage sweeps in all
    voxel_updates: int  # voxels updated over all sweeps (the active box's size each time)
    energy: dict[str, float] = field(default_factory=dict)
    redone_steps: int = 0  # steps redone in a wider active box (their sweeps are in ``sweeps``)

    @property
    def energy_balance_error(self) -> float:
        """abs(change in tissue enthalpy - net heat in) / heat taken by the probe(s)."""
        return energy_balance_error(self.energy)


def _props(grid: VoxelGrid) -> np.ndarray:
    return np.stack([t.row() for t in grid.materials])


def explicit_limit(grid: VoxelGrid, props: np.ndarray, tissue: np.ndarray, faces: ProbeFaces,
                   probes: tuple[PlacedProbe, ...], b_cells: np.ndarray, b_g: np.ndarray) -> float:
    """Forward-Euler limit: 1 / max over voxels of (sum of its conductances) k_max / (C_min V)
    + perfusion / C_u (Gershgorin; exact for the checkerboard mode of a uniform grid).

    Parameters
    ----------
    grid : VoxelGrid
        The grid (SI).
    props : numpy.ndarray
        Material table.
    tissue : numpy.ndarray of bool
        Tissue mask.
    faces : ProbeFaces
        The probes' cooled faces.
    probes : tuple of PlacedProbe
        The probes.
    b_cells : numpy.ndarray of int
        Voxels of the outer faces that pass heat.
    b_g : numpy.ndarray
        Their conductances per unit k [m].

    Returns
    -------
    float
        Time step [s].
    """
    k_max = np.maximum(props[:, K_F], props[:, K_U])[grid.material]
    c_min = np.minimum(props[:, C_F], props[:, C_U])[grid.material]
    gsum = np.zeros(grid.shape)
    tis = tissue.astype(float)
    for axis in range(3):
        for sign in (-1, 1):
            gsum += grid.conductance[axis] * neighbour(tis, axis, sign)
    gsum *= k_max
    flat = gsum.reshape(-1)
    np.add.at(flat, b_cells, b_g * k_max.reshape(-1)[b_cells])
    for p in range(len(probes)):
        sl = faces.of(p)
        # the wall passes at most what the tissue conducts to it (a held wall, or a boiling
        # cryogen's steep wall law)
        kg = faces.g[sl] * k_max.reshape(-1)[faces.cells[sl]]
        np.add.at(flat, faces.cells[sl], kg)
    perf = (props[:, PERFUSION] / props[:, C_U])[grid.material]
    rate = gsum / (c_min * grid.voxel_volume) + perf
    return float(1.0 / rate[tissue].max())


def whole_box(shape: tuple[int, int, int]) -> np.ndarray:
    """(i0, i1, j0, j1, k0, k1) covering every voxel.

    Parameters
    ----------
    shape : tuple of int
        (nx, ny, nz).

    Returns
    -------
    numpy.ndarray of int, shape (6,)
        Half-open voxel ranges.

    Examples
    --------
    >>> whole_box((4, 5, 6)).tolist()
    [0, 4, 0, 5, 0, 6]
    """
    return np.array([0, shape[0], 0, shape[1], 0, shape[2]], dtype=np.int64)


class _ActiveBox:
    """The voxels the solver updates (i0, i1, j0, j1, k0, k1; half-open): a box ``margin``
    voxels wider than every voxel that differs from its start by more than ``DISTURBED_K`` or
    would drift from it (``steady.unsteady_voxels``: a steady start, as ``steady_temperature``
    gives, leaves only the probes' neighbours), grown after each step. The voxels outside are
    held at rest; a step that disturbs the box's outer layer is redone in a wider box
    (``Run3D._step``), so what is held never differs from the solution by more than about
    ``DISTURBED_K``."""

    def __init__(self, shape: tuple[int, int, int], seeds: np.ndarray, margin: int):
        self.shape = np.array(shape)
        self.box = whole_box(shape)
        if seeds.size:
            ijk = np.array(np.unravel_index(seeds, shape))
            self.box = self._around(ijk.min(axis=1), ijk.max(axis=1), margin)

    def _around(self, lo: np.ndarray, hi: np.ndarray, margin: int) -> np.ndarray:
        lo = np.maximum(lo - margin, 0)
        hi = np.minimum(hi + margin + 1, self.shape)
        return np.column_stack([lo, hi]).ravel().astype(np.int64)

    def grow(self, lo_hi: np.ndarray, margin: int) -> None:
        """From ``record_history``'s per-slab (j_lo, j_hi, k_lo, k_hi) of disturbed voxels."""
        rows = np.flatnonzero(lo_hi[:, 1] >= 0)
        if rows.size == 0:
            return
        sel = lo_hi[rows]
        lo = np.array([rows.min(), sel[:, 0].min(), sel[:, 2].min()])
        hi = np.array([rows.max(), sel[:, 1].max(), sel[:, 3].max()])
        new = self._around(lo, hi, margin)
        self.box = np.column_stack([np.minimum(new[0::2], self.box[0::2]),
                                    np.maximum(new[1::2], self.box[1::2])]).ravel()

    def widen(self, faces: np.ndarray, cells: int) -> None:
        """Move each face flagged in ``faces`` (lo x, hi x, lo y, ...) out by ``cells``."""
        step = np.where(faces, cells, 0) * np.tile([-1, 1], 3)
        lo_hi = self.box + step
        self.box = np.column_stack([np.maximum(lo_hi[0::2], 0),
                                    np.minimum(lo_hi[1::2], self.shape)]).ravel().astype(np.int64)

    @property
    def whole(self) -> bool:
        return bool(np.all(self.box[0::2] == 0) and np.all(self.box[1::2] == self.shape))

    def padded(self, cells: int) -> np.ndarray:
        lo = np.maximum(self.box[0::2] - cells, 0)
        hi = np.minimum(self.box[1::2] + cells, self.shape)
        return np.column_stack([lo, hi]).ravel().astype(np.int64)

    @property
    def fraction(self) -> float:
        return float(np.prod(self.box[1::2] - self.box[0::2]) / np.prod(self.shape))


class _Sparse:
    """Probe and outer-face flows of one state, and their scatter into a stage."""

    def __init__(self, problem: ThermalProblem3D, faces: ProbeFaces, props, mat, tissue, t_start):
        self.problem, self.faces, self.props, self.mat = problem, faces, props, mat
        self.b_cells, self.b_kinds, self.b_g, self.b_area = boundary_faces(problem.grid, tissue)
        self.t_far = t_start.reshape(-1)[self.b_cells].copy()
        n_f = faces.cells.size
        self.n_f = n_f
        self.cells2d = np.zeros((n_f, 2), dtype=np.int64)
        self.cells2d[:, 0] = faces.cells
        self.t_wall = t_start.reshape(-1)[faces.cells].copy()
        self.probe_flows = np.zeros(n_f)
        self.t_gas = np.full(len(problem.probes), np.nan)
        width = float(problem.grid.spacing.min())
        # each probe's operating point follows its load (the tip pressure moves with it)
        self.ops = [p.model.operating for p in problem.probes]
        self.walls = [ProbeWall.of(p.model, faces.path[faces.of(k)], faces.kind[faces.of(k)],
                                   faces.wall_area[faces.of(k)], width, self.t_wall[faces.of(k)])
                      for k, p in enumerate(problem.probes)]
        self.mat2d = mat.reshape(-1, 1)
        skin = problem.grid.skin
        self.h_air, self.t_air = skin.htc, skin.air_temperature
        self.b_ijk = np.array(np.unravel_index(self.b_cells, problem.grid.shape)).T
        self.restricted_to = None
        self.restrict(whole_box(problem.grid.shape))

    def restore(self, saved: _Sparse) -> None:
        """Take back the state of ``saved`` (a ``branch`` of this one), in place."""
        for name in ("t_wall", "probe_flows", "t_gas"):
            getattr(self, name)[...] = getattr(saved, name)
        self.ops = list(saved.ops)
        for wall, old in zip(self.walls, saved.walls, strict=True):
            for f in dataclasses.fields(wall):
                getattr(wall, f.name)[...] = getattr(old, f.name)

    def branch(self) -> _Sparse:
        """A copy whose wall state, operating points and flows are its own."""
        other = copy.copy(self)
        for name in ("t_wall", "probe_flows", "t_gas", "b_flows"):
            setattr(other, name, getattr(self, name).copy())
        other.ops = list(self.ops)
        other.walls = [dataclasses.replace(w, **{f.name: getattr(w, f.name).copy()
                                                 for f in dataclasses.fields(w)}) for w in self.walls]
        return other

    def restrict(self, box: np.ndarray) -> None:
        """Only the outer faces of voxels in the active box pass heat in the step: the voxels
        outside are at rest, their outer flow balanced by sources the dense sweep does not
        evaluate there. Sets the sparse cells (``cells``: probe faces, then those outer faces)."""
        key = tuple(box)
        if key == self.restricted_to:
            return
        self.restricted_to = key
        lo, hi = box[0::2], box[1::2]
        sel = np.flatnonzero(np.all((self.b_ijk >= lo) & (self.b_ijk < hi), axis=1))
        self.outer = (self.b_cells[sel], self.b_kinds[sel], self.b_g[sel], self.b_area[sel], self.t_far[sel])
        self.cells = np.concatenate([self.faces.cells, self.outer[0]])
        self.b_flows = np.zeros(sel.size)

    def flows(self, t, u, modes) -> tuple[np.ndarray, np.ndarray]:
        """(W into the tissue at each sparse cell, energy terms [boundary, probe_0, ...])."""
        t2, u2 = t.reshape(-1, 1), u.reshape(-1, 1)
        per_probe = np.zeros(len(self.problem.probes))
        for p, probe in enumerate(self.problem.probes):
            sl = self.faces.of(p)
            if sl.start == sl.stop:
                continue
            mode, t_set = modes[p]
            op = self.ops[p]
            wall, law = self.walls[p], probe.model.law if op is None else op.law
            if mode == kernel.CRYOGEN and op is not None:
                t_set = op.boiling_temperature
            self.t_gas[p] = kernel.probe_flows(
                mode, t_set, 0.0 if op is None else op.mass_flow, law.params, law.absorbed, law.temperature,
                law.quality, *wall.args(), self.cells2d[sl], self.faces.g[sl], self.faces.wall_area[sl],
                self.mat2d, self.props, t2, u2, *wall.state())
            self.t_wall[sl] = wall.t_wall
            self.probe_flows[sl] = wall.flows
            per_probe[p] = self.probe_flows[sl].sum()
        cells, kinds, g, area, t_far = self.outer
        b_total = kernel3d.boundary_flows(cells, kinds, g, area, t, u, self.mat, self.props, t_far,
                                          self.h_air, self.t_air, self.b_flows)
        into = np.concatenate([-self.probe_flows, self.b_flows])
        return into, np.concatenate([[b_total], per_probe])


def _initial_state(problem: ThermalProblem3D, tissue: np.ndarray, props: np.ndarray):
    grid = problem.grid
    if problem.initial_field is not None:
        t = np.array(problem.initial_field, dtype=float)
    elif problem.initial_temperature is not None:
        t = np.full(grid.shape, problem.initial_temperature)
    else:
        t = np.array([m.resting_temperature for m in grid.materials])[grid.material]
    h = np.empty(grid.shape)
    for m in range(props.shape[0]):
        sel = grid.material == m
        h[sel] = enthalpy_array(t[sel], props[m])
    u = np.zeros(grid.shape)
    # the axisymmetric kernel's refresh, on (n, 1) views of the voxels
    kernel.refresh(h.reshape(-1, 1), t.reshape(-1, 1), u.reshape(-1, 1), grid.material.reshape(-1, 1),
                   props, tissue.reshape(-1, 1))
    return h, t, u


def segments(problem: ThermalProblem3D) -> list[tuple[float, str, tuple[Phase | None, ...]]]:
    """The run cut where any probe changes phase: (seconds, label, each probe's phase or None
    once its own protocol has ended, when its gas is off). The label is the shared protocol's
    phase when every probe follows it, else ``freeze`` while any probe freezes, then
    ``active-thaw`` while any thaws actively, else ``passive-thaw``.

    Parameters
    ----------
    problem : ThermalProblem3D
        Its probes, shared protocol and each probe's own protocol (None: the shared one).

    Returns
    -------
    list of (float, str, tuple)
        Per segment: its duration [s], its label, and each probe's phase (None: gas off).

    Examples
    --------
    >>> from cryoplan.thermal.probe import ProbeModel
    >>> m = ProbeModel(2e-3, 6e-3, "fixed-temperature", wall_temperature=200.0)
    >>> a, b = PlacedProbe.at(m, (0, 0, 0), (0, 0, 1)), PlacedProbe.at(m, (5e-3, 0, 0), (0, 0, 1))
    >>> shared = Protocol.of([Phase("freeze", 60)])
    >>> own = (None, Protocol.of([Phase("passive-thaw", 20), Phase("freeze", 60)]))
    >>> [(s, label, [q and q.kind for q in ps]) for s, label, ps in segments(
    ...     ThermalProblem3D(None, (a, b), shared, probe_protocols=own))]
    [(20.0, 'freeze', ['freeze', 'passive-thaw']), (40.0, 'freeze', ['freeze', 'freeze']), \
(20.0, 'freeze', [None, 'freeze'])]
    """
    n = len(problem.probes)
    own = tuple(problem.probe_protocols) + (None,) * (n - len(problem.probe_protocols))
    if all(p is None for p in own):
        return [(q.seconds, q.kind, (q,) * n) for q in problem.protocol.phases]
    plans = [p if p is not None else problem.protocol for p in own]
    ends = [np.cumsum([q.seconds for q in p.phases]) for p in plans]
    cuts = sorted({0.0, *(float(e) for es in ends for e in es)})
    out = []
    for t0, t1 in zip(cuts[:-1], cuts[1:], strict=True):
        if t1 - t0 < 1e-9:
            continue
        mid = 0.5 * (t0 + t1)
        phases = tuple(None if mid > e[-1] else p.phases[int(np.searchsorted(e, mid))]
                       for p, e in zip(plans, ends, strict=True))
        kinds = {q.kind for q in phases if q is not None}
        label = "freeze" if "freeze" in kinds else "active-thaw" if "active-thaw" in kinds else "passive-thaw"
        out.append((t1 - t0, label, phases))
    return out


#: Voxels below which a run's kernels take one thread: on a small box a parallel launch costs more
#: than its work, and far more on a busy machine (a 5,632-voxel box through 400 phases of 0.25 s:
#: 17.3 s on two threads, 0.97 s on one, measured with the machine's other core busy; at 138,240
#: voxels the two were even). The threshold between is assumed, not measured.
ONE_THREAD_BELOW_VOXELS = 16_384


def solve3d(problem: ThermalProblem3D,
            progress: Callable[[float, float], None] | None = None) -> ThermalResult3D:
    """Simulate the protocol (each probe's own, where it has one); ``progress(t, total)`` is
    called after each output interval.

    Parameters
    ----------
    problem : ThermalProblem3D
        Grid, probes, protocols and outputs (SI).
    progress : callable or None, optional
        ``progress(t, total)``, times [s].

    Returns
    -------
    ThermalResult3D
        Temperatures [K], isotherm sizes [m, m^3], probe states, thermal history and energy
        terms [J] at the output times [s].

    References
    ----------
    .. [1] Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594 (RKL2 super-time-stepping).
    """
    small = math.prod(problem.grid.shape) < ONE_THREAD_BELOW_VOXELS
    with threads_here(1) if small else nullcontext():
        run = Run3D(problem)
        total = sum(s for s, _, _ in segments(problem))
        for seconds, label, phases in segments(problem):
            run.advance(seconds, label, phases, lambda now: progress(now, total) if progress else None)
        return run.result()


class Run3D:
    """A 3D run in progress: ``advance`` it through phases, ``branch`` it to continue one state
    in two ways (a longer freeze, and the thaw after this one), ``result`` at any point. A branch
    continues exactly where its parent stood, so a protocol tree (freezes of 60, 90, ... s, each
    then observed) costs its longest trunk plus the branches, not every protocol from the start."""

    def __init__(self, problem: ThermalProblem3D):
        grid, probes = problem.grid, problem.probes
        self.problem = problem
        self.props = props = _props(grid)
        self.faces = faces = rasterise(grid, list(probes))
        self.tissue = tissue = ~faces.inside
        mat = grid.material
        self.interior = kernel3d.interior_voxels(tissue, mat)
        # the sweep is memory-bound: its material indices as small integers, 7 bytes a voxel less
        self.mat_small = mat.astype(np.min_scalar_type(max(len(grid.materials) - 1, 0)))
        self.h, self.t, self.u = _initial_state(problem, tissue, props)
        self.t_start = self.t.copy()
        self.perfusion = model_code(problem.perfusion)
        self.t_ref = reference_temperatures(self.t_start, mat, props)
        self.sparse = _Sparse(problem, faces, props, mat, tissue, self.t_start)
        self.dt_exp = SAFETY * explicit_limit(grid, props, tissue, faces, probes, self.sparse.b_cells,
                                              self.sparse.b_g)
        horizon = sum(s for s, _, _ in segments(problem))
        drifting = unsteady_voxels(grid, self.t_start, tissue, horizon, DISTURBED_K)
        self.active = _ActiveBox(grid.shape, np.union1d(faces.cells, drifting), BOX_MARGIN)
        self.history = ThermalHistory.start(self.t, problem.history_thresholds, tissue)
        self.thresholds = np.array(problem.history_thresholds, dtype=float)
        n_p = len(probes)
        # energy terms: perfusion, metabolism, boundary, then one per probe (heat taken, W)
        self.energy = np.zeros(3 + n_p)
        self.h_start = float(self.h[tissue].sum() * grid.voxel_volume)
        self.buffers = [self.h.copy() for _ in range(3)]
        self.tu = (self.t.copy(), self.u.copy())
        self.r0 = np.zeros(grid.shape)
        self.t_old = self.t.copy()
        self.tips = np.array([p.tip for p in probes]).reshape(-1, 3)
        self.axes = np.array([p.axis for p in probes]).reshape(-1, 3)
        self.now = 0.0
        self.times, self.phases = [0.0], ["start"]
        self.tip_t = [np.array([_mean_wall(self.sparse, faces, p) for p in range(n_p)])]
        self.gas_t, self.power = [np.full(n_p, np.nan)], [np.zeros(n_p)]
        self.sizes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.most_stages = self.sweeps = self.updates = self.redone = 0
        self.thetas = np.array(problem.isotherms, dtype=float)
        # voxels outside the active box are at rest: warmer than every isotherm unless one is not
        self.colder_at_rest = bool(self.thetas.size) and (
            self.thetas.max() >= self.t_start[tissue].min() - DISTURBED_K)
        self._record()

    def branch(self) -> Run3D:
        """An independent copy of this run's state (the problem and geometry are shared).

        Returns
        -------
        Run3D
            The copy, at the same time [s] and state as this run.
        """
        other = copy.copy(self)
        for name in ("h", "t", "u", "r0", "t_old", "energy"):
            setattr(other, name, getattr(self, name).copy())
        other.buffers = [b.copy() for b in self.buffers]
        other.tu = (self.tu[0].copy(), self.tu[1].copy())
        other.history = dataclasses.replace(self.history, **{
            f.name: getattr(self.history, f.name).copy() for f in dataclasses.fields(self.history)
            if f.name != "tissue"})
        other.active = copy.deepcopy(self.active)
        other.sparse = self.sparse.branch()
        for name in ("times", "phases", "tip_t", "gas_t", "power", "sizes"):
            setattr(other, name, list(getattr(self, name)))
        return other

    def _record(self) -> None:
        grid = self.problem.grid
        box = whole_box(grid.shape) if self.colder_at_rest else self.active.padded(1)
        self.sizes.append(measure(self.t, self.tissue, grid.origin, grid.spacing, self.thetas, self.tips,
                                  self.axes, box))

    def advance(self, seconds: float, label: str, phases: tuple[Phase | None, ...],
                progress: Callable[[float], None] | None = None) -> None:
        """Run ``seconds`` with each probe in its phase (None: gas off), recording outputs every
        ``output_interval`` under ``label``.

        Parameters
        ----------
        seconds : float
            Duration to run [s].
        label : str
            Phase name recorded with each output time.
        phases : tuple of Phase or None
            Each probe's phase, in the problem's probe order; None for gas off.
        progress : callable, optional
            Called with the run's time [s] after each output.
        """
        problem, probes, sparse = self.problem, self.problem.probes, self.sparse
        modes = [p.model.mode(q) if q is not None else (kernel.OFF, float("nan"))
                 for p, q in zip(probes, phases, strict=True)]
        n_out = max(1, math.ceil(seconds / problem.output_interval - 1e-9))
        for k in range(n_out):
            span = min(problem.output_interval, seconds - k * problem.output_interval)
            n_steps = max(1, math.ceil(span / problem.max_step - 1e-9))
            tau = span / n_steps
            e_before = self.energy[3:].copy()
            for _ in range(n_steps):
                self._step(tau, modes)
                self.now += tau
            if not np.isfinite(self.t[self.tissue]).all():
                raise FloatingPointError(f"the 3D solution diverged at t = {self.now:g} s (a solver bug)")
            self.times.append(self.now)
            self.phases.append(label)
            self.tip_t.append(np.array([_mean_wall(sparse, self.faces, p) for p in range(len(probes))]))
            cooling = np.array([m[0] != kernel.OFF for m in modes])
            self.gas_t.append(np.where(cooling, sparse.t_gas, np.nan))
            self.power.append((self.energy[3:] - e_before) / span)
            for p in range(len(probes)):
                if modes[p][0] == kernel.CRYOGEN and sparse.ops[p] is not None:
                    sparse.ops[p] = sparse.ops[p].at_load(float(self.power[-1][p]))
            self._record()
            if progress is not None:
                progress(self.now)

    def _step(self, tau: float, modes) -> None:
        """One RKL2 step of ``tau`` in the active box, redone in a box ``BOX_MARGIN`` wider on
        each side whose outer layer it disturbed (the voxels beyond were held at rest), then the
        step's thermal history."""
        active, tissue = self.active, self.tissue
        self.t_old[:] = self.t
        saved = None if active.whole else (self.u.copy(), self.sparse.branch())
        while True:
            box = active.box.copy()
            self.updates += self._stages(tau, modes) * int(np.prod(box[1::2] - box[0::2]))
            reached = kernel3d.disturbed_faces(self._pending[1][0], self.t_start, tissue, box, DISTURBED_K)
            if saved is None or not reached.any():
                break
            self.redone += 1
            self.t[:], self.u[:] = self.t_old, saved[0]
            self.sparse.restore(saved[1])
            active.widen(reached, BOX_MARGIN)
        self._accept()
        hist = self.history
        lo_hi = kernel3d.record_history(self.t_old, self.t, tissue, self.problem.grid.material, self.props,
                                        self.now + tau, tau, hist.min_temperature, self.thresholds,
                                        hist.seconds_below, hist.liquidus_time, hist.solidus_time,
                                        hist.frozen, hist.freeze_cycles, box, self.t_start, DISTURBED_K)
        active.grow(lo_hi, BOX_MARGIN)

    def _stages(self, tau: float, modes) -> int:
        """The stages of one RKL2 step of ``tau`` in the active box (returns their number),
        left pending for ``_accept`` (``self._pending``: the new enthalpy, its (T, u) and the
        scratch pair, energies): stage j writes into a scratch buffer holding neither Y_{j-1}
        nor Y_{j-2}; energies are recombined with the same weights as the enthalpy."""
        grid, sparse, active = self.problem.grid, self.sparse, self.active
        mat, props, tissue, vol = grid.material, self.props, self.tissue, grid.voxel_volume
        h, t, u, tu, buffers, r0 = self.h, self.t, self.u, self.tu, self.buffers, self.r0
        s = rkl.stages_for(tau / self.dt_exp)
        c = rkl.coefficients(s)
        sparse.restrict(active.box)
        into0, e_sparse0 = sparse.flows(t, u, modes)
        y0 = h
        out = buffers[0]
        box = active.box
        # the heat conducted into the box from the voxels at rest round it: the dense sweep moves
        # it into the box, but no energy term sees it; it is counted with the boundary's
        e_sparse0[0] += kernel3d.box_inflow(t, u, mat, props, tissue, grid.conductance, box)
        small, interior = self.mat_small, self.interior
        e0_dense = kernel3d.stage(True, y0, y0, y0, r0, t, u, out, tu[0], tu[1], small, props, tissue,
                                  interior, grid.conductance, vol, tau, 0.0, 0.0, c.mu_t[1], 0.0, box,
                                  self.perfusion, self.history.min_temperature, self.t_ref)
        kernel3d.scatter(sparse.cells, into0, into0, c.mu_t[1] * tau, 0.0, vol, out, tu[0], tu[1],
                         mat, props)
        e0 = np.concatenate([e0_dense, e_sparse0])
        y_prev2, y_prev = y0, out
        e_prev2, e_prev = np.zeros_like(e0), c.mu_t[1] * tau * e0
        cur, nxt = tu, (t, u)
        for j in range(2, s + 1):
            into, e_sparse = sparse.flows(cur[0], cur[1], modes)
            e_sparse[0] += kernel3d.box_inflow(cur[0], cur[1], mat, props, tissue, grid.conductance, box)
            out = next(b for b in buffers if b is not y_prev and b is not y_prev2)
            e_dense = kernel3d.stage(False, y_prev, y_prev2, y0, r0, cur[0], cur[1], out, nxt[0], nxt[1],
                                     small, props, tissue, interior, grid.conductance, vol, tau,
                                     c.mu[j], c.nu[j], c.mu_t[j], c.gamma_t[j], box,
                                     self.perfusion, self.history.min_temperature, self.t_ref)
            kernel3d.scatter(sparse.cells, into, into0, c.mu_t[j] * tau, c.gamma_t[j] * tau, vol, out,
                             nxt[0], nxt[1], mat, props)
            e_j = np.concatenate([e_dense, e_sparse])
            e_new = c.mu[j] * e_prev + c.nu[j] * e_prev2 + tau * (c.mu_t[j] * e_j + c.gamma_t[j] * e0)
            y_prev2, y_prev = y_prev, out
            e_prev2, e_prev = e_prev, e_new
            cur, nxt = nxt, cur
        self._pending = (y_prev, cur, nxt, e_prev)
        self.most_stages = max(self.most_stages, s)
        self.sweeps += s
        return s

    def _accept(self) -> None:
        """Make the pending step's result the state."""
        y, cur, nxt, e_step = self._pending
        self.buffers = [b for b in (self.h, *self.buffers) if b is not y]
        self.h = y
        (self.t, self.u), self.tu = cur, nxt
        self.energy[:] += e_step

    def result(self) -> ThermalResult3D:
        """The run so far as a result (its arrays are this run's: branch first to go on).

        Returns
        -------
        ThermalResult3D
            Output times [s], probe temperatures [K] and powers [W], isotherm sizes [m, m^3],
            the temperature field [K] and thermal history, energies [J].
        """
        grid = self.problem.grid
        sizes = self.sizes
        h_end = float(self.h[self.tissue].sum() * grid.voxel_volume)
        e = self.energy
        return ThermalResult3D(
            times=np.array(self.times), phase=list(self.phases), tip_temperature=np.array(self.tip_t),
            gas_temperature=np.array(self.gas_t), cooling_power=np.array(self.power),
            isotherms={th: IsothermSeries3D(np.array([x[0][n] for x in sizes]),
                                            np.array([x[1][n] for x in sizes]),
                                            np.array([x[2][n] for x in sizes]))
                       for n, th in enumerate(self.problem.isotherms)},
            temperature=self.t, history=self.history, grid=grid, faces=self.faces, time_step=self.dt_exp,
            stages=self.most_stages, sweeps=self.sweeps, voxel_updates=self.updates,
            energy={
                "perfusion_j": float(e[0]), "metabolic_j": float(e[1]),
                "boundary_j": float(e[2]), "probe_j": float(e[3:].sum()),
                "tissue_enthalpy_change_j": h_end - self.h_start,
            },
            redone_steps=self.redone,
        )


def _mean_wall(sparse: _Sparse, faces: ProbeFaces, p: int) -> float:
    """Temperature of probe ``p``'s closed end (``thermal.probe.tip_temperature``)."""
    sl = faces.of(p)
    if sl.start == sl.stop:
        return float("nan")
    return tip_temperature(sparse.t_wall[sl], faces.wall_area[sl], faces.kind[sl])
