"""A result JSON read back (``cryoplan report``, ``registry add``, the web planner): what kind
it is, whether it has what cryoplan writes, and one InputError for a file that does not.
Light on purpose: reading a result needs none of the solvers."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from cryoplan.errors import InputError

#: What a result is: a simulation's or a plan's.
Kind = Literal["simulation", "plan"]

REQUIRED = {"simulation": ("iceball", "probe", "protocol"), "plan": ("anatomy", "status", "why")}


def kind_of(data: dict[str, Any]) -> Kind:
    return "plan" if data.get("kind") == "plan" else "simulation"


def read_result(data: Any) -> dict[str, Any]:
    """Check that ``data`` is a result JSON of cryoplan (raises InputError naming what is missing)."""
    if not isinstance(data, dict):
        raise InputError("RESULT.json", type(data).__name__, "a JSON object written by cryoplan")
    missing = [k for k in REQUIRED[kind_of(data)] if k not in data]
    if missing:
        raise InputError("RESULT.json", data if len(str(data)) < 80 else "{...}",
                         f"the JSON of cryoplan simulate or cryoplan plan (missing: {', '.join(missing)})")
    return data


@contextmanager
def reading_result(name: str | Path):
    """Use a result JSON inside this block: a file that has the top-level keys but not the
    contents cryoplan wrote (edited by hand, cut short) is one InputError, not a traceback."""
    try:
        yield
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise InputError("RESULT.json", str(name), "the JSON of cryoplan simulate or cryoplan plan as it "
                         f"was written ({type(err).__name__}: {err})") from None


def load_result(path: str | Path) -> dict[str, Any]:
    """A result JSON written by ``cryoplan simulate --json`` or ``cryoplan plan --json``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("RESULT.json", str(path), "an existing file") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise InputError("RESULT.json", str(path), "a JSON text file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError("RESULT.json", str(path), f"a JSON file ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise InputError("RESULT.json", str(path), "JSON nested less deeply") from None
    return read_result(data)
