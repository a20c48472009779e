"""Atomic writes (``cryoplan.atomic``): a failed write leaves the old file and no temporary
file, a set of outputs is written all or none, a result with NaN is refused before anything is
written, and outputs that could not be written are refused before a run."""

import math
import os

import pytest

from cryoplan.atomic import OutputSet, check_writable, check_writable_dir, write_atomic, write_json
from cryoplan.errors import InputError


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "r.json"
    write_json(target, {"a": 1})

    def half(p):
        p.write_text("half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half)
    assert target.read_text() == '{\n "a": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # a normal file's mode


def test_a_set_of_outputs_is_written_all_or_none(tmp_path):
    with pytest.raises(RuntimeError), OutputSet() as out:
        out.stage(tmp_path / "a.png", lambda p: p.write_bytes(b"png"))
        out.stage_json(tmp_path / "a.json", {"x": 1})
        raise RuntimeError("the report failed")
    assert list(tmp_path.iterdir()) == []
    with OutputSet() as out:
        out.stage(tmp_path / "sub" / "a.png", lambda p: p.write_bytes(b"png"))
        out.stage_json(tmp_path / "a.json", {"x": 1})
    assert sorted(p.name for p in out.written) == ["a.json", "a.png"]
    assert (tmp_path / "sub" / "a.png").read_bytes() == b"png"


def test_nan_is_refused_before_any_file_is_made(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "r.json", {"radius_mm": math.nan})
    with pytest.raises(ValueError), OutputSet() as out:
        out.stage_json(tmp_path / "r.json", {"radius_mm": math.inf})
    assert list(tmp_path.iterdir()) == []


def test_outputs_that_cannot_be_written_are_named(tmp_path):
    (tmp_path / "file").write_text("x")
    check_writable("--json", tmp_path / "new" / "deeper" / "r.json")  # folders made on writing
    with pytest.raises(InputError, match="this is a folder") as err:
        check_writable("--json", tmp_path)
    assert err.value.field == "--json"
    with pytest.raises(InputError, match="is a file"):
        check_writable("--plot", tmp_path / "file" / "r.png")
    with pytest.raises(InputError, match="a folder \\(this is a file\\)"):
        check_writable_dir("--export", tmp_path / "file")
    check_writable_dir("--export", tmp_path / "out")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
