"""The corrections file of a CT's survey (TOML): what a physician who checked the QC pictures
(``cryoplan ct --report``) puts right by hand, read by ``cryoplan ct --corrections`` and by a
plan's ``[anatomy] corrections``. Every key is documented in docs/ct.md.

.. code-block:: toml

    relabel = { was = "L5", is = "S" }   # what the survey called L5 is the sacrum: all shift by one

    [[move]]                             # a target moved by a few millimetres (RAS+)
    level = "L3"                         # the L3 medial branch's target
    side = "left"
    by_mm = [1.5, 0.0, -2.0]

>>> fix = parse_corrections({"relabel": {"was": "L5", "is": "S1"}, "move": [
...     {"level": "L3", "side": "left", "by_mm": [1.0, 0.0, -2.0]}]})
>>> fix.relabel.is_, fix.move[0].by_mm
('S', [1.0, 0.0, -2.0])
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from cryoplan.anatomy.ct.vertebrae import LEVELS
from cryoplan.config import _Section, read_toml_file, validate
from cryoplan.errors import InputError

#: Farthest a target is moved by hand (mm): a correction, not a new target.
MAX_MOVE_MM = 10.0
#: Most targets moved in one file.
MAX_MOVES = 40


def _level(value: str, where: str) -> str:
    """A vertebral level of ``LEVELS`` ("S1" names the sacrum, "S")."""
    level = "S" if value == "S1" else value
    if level not in LEVELS:
        raise InputError(where, value, "a vertebral level, C1-L5 or S (the sacrum)")
    return level


class RelabelConfig(_Section):
    was: Annotated[str, Field(min_length=1, max_length=8)]
    is_: Annotated[str, Field(min_length=1, max_length=8, alias="is")]

    @model_validator(mode="after")
    def _levels(self) -> RelabelConfig:
        was, is_ = _level(self.was, "relabel.was"), _level(self.is_, "relabel.is")
        if was == is_:
            raise InputError("relabel.is", self.is_, f"another level than {self.was} (it is already so)")
        object.__setattr__(self, "was", was)
        object.__setattr__(self, "is_", is_)
        return self


class MoveConfig(_Section):
    level: Literal["L1", "L2", "L3", "L4"]
    side: Literal["left", "right"]
    by_mm: Annotated[list[Annotated[float, Field(ge=-MAX_MOVE_MM, le=MAX_MOVE_MM)]],
                     Field(min_length=3, max_length=3)]

    @field_validator("by_mm")
    @classmethod
    def _a_few_millimetres(cls, value: list[float]) -> list[float]:
        if math.hypot(*value) > MAX_MOVE_MM:
            raise InputError("by_mm", value, f"a move of at most {MAX_MOVE_MM:g} mm (a correction)")
        return value


class CorrectionsConfig(_Section):
    relabel: RelabelConfig | None = None
    move: Annotated[list[MoveConfig], Field(max_length=MAX_MOVES)] = []

    @model_validator(mode="after")
    def _each_target_once(self) -> CorrectionsConfig:
        keys = [(m.level, m.side) for m in self.move]
        if len(set(keys)) != len(keys):
            raise InputError("move", [f"{lv} {side}" for lv, side in keys], "each level and side moved once")
        return self


def parse_corrections(data: dict[str, Any]) -> CorrectionsConfig:
    """Validate a corrections file given as a dict (raises InputError).

    Parameters
    ----------
    data : dict
        What the TOML file holds.

    Returns
    -------
    CorrectionsConfig
        The relabelling (``relabel.was``, ``relabel.is_``: levels of ``LEVELS``) and the moves.
    """
    return validate(CorrectionsConfig, data, "corrections")


def load_corrections(path: str | Path) -> CorrectionsConfig:
    """Read and validate a corrections file (raises InputError).

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    CorrectionsConfig
        Its corrections.
    """
    return parse_corrections(read_toml_file(path, "corrections file"))
