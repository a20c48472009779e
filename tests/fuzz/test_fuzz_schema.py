"""Property-based fuzz of the procedure and plan schemas and of the service's admission: whatever
the input, ``service.prepare`` gives a validated, bounded job or an InputError naming a field, on
one line, quickly; never another exception, never a hang, never a job over the limits.

Inputs are valid files with values replaced, keys added or removed at random (so the fuzz
reaches the rules deep inside), and arbitrary nested data. A bounded number of examples keeps
the default run fast.
"""

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryoplan import budget, service
from cryoplan.errors import InputError

PROCEDURE = {
    "probe": {"catalog": "n2o-2.0mm", "cannula_gauge": 12},
    "cryogen": {"gas": "n2o"},
    "tissue": {"type": "muscle"},
    "protocol": {"phases": [{"kind": "freeze", "seconds": 60}, {"kind": "passive-thaw", "seconds": 10}]},
    "grid": {"spacing_mm": 0.25, "extent_mm": 8.0, "growth": 1.1, "uniform_extent_mm": 4.0},
    "output": {"isotherms_c": [0.0, -20.0], "interval_s": 1.0},
    "nerve": [{"name": "mb", "distance_mm": 2.0, "orientation": "perpendicular"}],
    "patient": {"susceptibility": 1.0},
}
PLAN = {
    "anatomy": {"template": "lumbar-medial-branch", "level": "L4", "spacing_mm": 1.0},
    "probe": {"catalog": "n2o-2.0mm"},
    "plan": {"samples": 64, "freeze_seconds": [60.0], "cycles": [1], "gaps_mm": [0.0], "ring_deg": [10.0]},
}

HOSTILE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, True, False, None, "", "1.5", 1e308, -1e308, 0, -1,
                     2**70, 1e-300, [], {}, [[[]]], "[/oops] L4", "\x00", "x" * 500])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | st.text(max_size=20)
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _paths(data, prefix=()):
    """Every key path of nested dicts and lists."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for k, v in enumerate(data):
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))


def _copy(data):
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


@st.composite
def mutated(draw, base):
    """``base`` with a few values replaced, keys deleted or unknown keys added."""
    data = _copy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        # copies: a value drawn from sampled_from is one shared object (``[[[]]]``), which a later
        # mutation of this example would change for every example after it (hypothesis then
        # reports its data generation as flaky)
        if action == "replace":
            parent[path[-1]] = _copy(draw(HOSTILE | JSONISH))
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = _copy(draw(HOSTILE))
    return data


def _admit(kind, data):
    try:
        job = service.prepare(kind, data)
    except InputError as err:
        message = str(err)
        assert "\n" not in message and err.field, message
        assert len(message) < 1500
        return
    e = job.estimate
    assert e.cells <= budget.LIMITS.cells and e.seconds <= budget.LIMITS.seconds
    assert e.memory_bytes <= budget.LIMITS.memory_bytes and e.outputs <= budget.LIMITS.outputs


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(mutated(PROCEDURE))
def test_a_mutated_procedure_is_admitted_or_refused_with_one_line(data):
    _admit("simulation", data)


@FUZZ
@given(mutated(PLAN))
def test_a_mutated_plan_is_admitted_or_refused_with_one_line(data):
    _admit("plan", data)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(JSONISH, st.sampled_from(["simulation", "plan"]))
def test_arbitrary_data_is_refused_with_one_line(data, kind):
    _admit(kind, data)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_is_read_or_refused(text):
    try:
        data = service.read_text(text)
    except InputError as err:
        assert "\n" not in str(err)
        return
    _admit("simulation", data)


def test_a_known_hostile_corpus_is_refused_or_bounded():
    """Every case of tests/fuzz/hostile_inputs.py: one line or an admitted job within the limits."""
    from .hostile_inputs import plan_cases, procedure_cases

    for kind, cases in (("simulation", procedure_cases()), ("plan", plan_cases())):
        for name, text in cases:
            try:
                data = service.read_text(text)
            except InputError as err:
                assert "\n" not in str(err), name
                continue
            _admit(kind, data)
