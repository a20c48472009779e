"""The command line on hostile files, as a user runs it (a subprocess): one line on stderr,
exit code 2, no traceback, nothing written, and no hang; names with markup printed as they are;
outputs that cannot be written refused before the run. The whole corpus of
tests/fuzz/hostile_inputs.py runs in the slow suite."""

import subprocess
import sys
import time

import pytest

from .hostile_inputs import BINARY, CLI, PROBE, _phase, plan_cases, procedure_cases

#: One case of each kind (every case is in the slow suite, and in-process in test_fuzz_schema.py).
PICK = {
    "simulation": ["seconds = true", "tissue.k_frozen_w_per_m_k = inf", "interval 1e-9", "deep dotted table",
                   "typo seconds", "registry host with a password"],
    "plan": ["plan.seed = -1", "huge search"],
}


def _cases(kind: str) -> list[tuple[str, str]]:
    return procedure_cases() if kind == "simulation" else plan_cases()


def _run(tmp_path, kind: str, body: bytes, timeout: float = 600):
    command = "simulate" if kind == "simulation" else "plan"
    (tmp_path / "in.toml").write_bytes(body)
    start = time.monotonic()
    res = subprocess.run([*CLI, command, "in.toml", "--json", "out.json", "--report", "out.html"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    return res, time.monotonic() - start


def _assert_refused(res, tmp_path, name):
    assert res.returncode == 2, (name, res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr + res.stdout, name
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (name, res.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.toml"], name  # nothing written
    return lines[0]


@pytest.mark.parametrize("kind, name", [(k, n) for k, names in PICK.items() for n in names])
def test_a_hostile_file_is_one_line_exit_2_nothing_written(tmp_path, kind, name):
    text = dict(_cases(kind))[name]
    res, _ = _run(tmp_path, kind, text.encode())
    line = _assert_refused(res, tmp_path, name)
    assert "hunter2secret" not in line  # a database password is never repeated


@pytest.mark.parametrize("name, body", BINARY)
def test_binary_files_are_refused(tmp_path, name, body):
    res, _ = _run(tmp_path, "simulation", body)
    _assert_refused(res, tmp_path, name)


def test_markup_in_names_is_printed_as_it_is(tmp_path):
    names = ["L4 [/oops] branch", "[bold red]L4[/]", ":skull: L4"]
    text = dict(procedure_cases())["markup in a nerve name"] + "".join(
        f'[[nerve]]\nname = "{n}"\ndistance_mm = {2.0 + k}\norientation = "parallel"\nlength_mm = 10.0\n'
        for k, n in enumerate(names[1:]))
    res, _ = _run(tmp_path, "simulation", text.encode())
    assert res.returncode == 0, res.stderr
    for name in names:
        assert name in res.stdout
    assert (tmp_path / "out.json").exists() and (tmp_path / "out.html").exists()


def test_unwritable_outputs_are_refused_before_the_run(tmp_path):
    (tmp_path / "in.toml").write_text(dict(procedure_cases())["markup in a nerve name"])
    (tmp_path / "a-file").write_text("")
    for option, target in (("--report", "a-file/r.html"), ("--json", ".")):
        res = subprocess.run([*CLI, "simulate", "in.toml", option, target, "--plot", "r.png"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 2 and option in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "r.png").exists()  # the other outputs are not written either


def test_allow_large_lifts_the_limits_on_the_command_line_only(tmp_path):
    text = PROBE + _phase("1e6")  # within the schema's bounds, hours of computing
    res, _ = _run(tmp_path, "simulation", text.encode())
    assert "--allow-large" in _assert_refused(res, tmp_path, "1e6")
    from cryoplan import service

    with pytest.raises(Exception, match="allowed is a run of at most"):
        service.prepare("simulation", service.read_text(text), upload=True, allow_large=True)
    job = service.prepare("simulation", service.read_text(text), allow_large=True)
    assert job.estimate.seconds > 3600  # admitted, and its estimate says why it was refused


def test_help_and_version_answer_at_once_without_the_physics():
    res = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "simulate" in res.stdout
    res = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.startswith("cryoplan ")
    probe = ("import sys, cryoplan.cli; heavy = {'CoolProp', 'numba', 'pandas', 'plotly', 'sqlalchemy', "
             "'scipy', 'matplotlib', 'lifelines'}; print(sorted(heavy & set(sys.modules)))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert res.stdout.strip() == "[]", res.stdout


@pytest.mark.slow
def test_the_whole_hostile_corpus_on_the_command_line(tmp_path):
    failures = []
    cases = ([("simulation", n, t.encode()) for n, t in procedure_cases()]
             + [("plan", n, t.encode()) for n, t in plan_cases()] + [("simulation", n, b) for n, b in BINARY])
    for k, (kind, name, body) in enumerate(cases):
        folder = tmp_path / f"c{k}"
        folder.mkdir()
        try:
            res, _ = _run(folder, kind, body)
        except subprocess.TimeoutExpired:
            failures.append((name, "hang"))
            continue
        if "Traceback" in res.stderr + res.stdout:
            failures.append((name, "traceback"))
        elif res.returncode == 2 and (len(res.stderr.strip().splitlines()) != 1
                                      or len(list(folder.iterdir())) != 1):
            failures.append((name, "refused but not in one line, or wrote files"))
        elif res.returncode not in (0, 1, 2):
            failures.append((name, f"exit {res.returncode}"))
    assert not failures, failures
