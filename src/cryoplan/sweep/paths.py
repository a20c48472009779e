"""Addresses into a procedure file and into a result JSON.

A *key* names one value of the procedure (or plan) file that a study varies, in the file's own
words: sections and keys joined by dots, a list item by its index in brackets
(``tissue.perfusion_per_s``, ``nerve[0].distance_mm``, ``protocol.phases[2].seconds``).

An *output path* names one value of the result JSON: keys joined by dots, a list item by its
index (``nerves.0.min_temperature_c`` or ``nerves[0].min_temperature_c``). A path that ends on a
list of numbers (a time series) takes its last value, or with a suffix ``@T`` its value at
``T`` seconds (linear between the output times), ``:min`` or ``:max`` its extreme. A key may hold
dots itself (the isotherm ``-12.5``): the longest key that exists is taken.

>>> data = {"tissue": {"type": "muscle"}}
>>> set_key(data, "tissue.perfusion_per_s", 0.001); data
{'tissue': {'type': 'muscle', 'perfusion_per_s': 0.001}}
>>> result = {"iceball": {"times_s": [0, 10, 20], "isotherms": {"-12.5": {"radius_mm": [0, 2.0, 3.0]}}}}
>>> path = "iceball.isotherms.-12.5.radius_mm"
>>> get_output(result, path), get_output(result, path + "@5"), get_output(result, path + ":max")
(3.0, 1.0, 3.0)
"""

from __future__ import annotations

import re
from typing import Any

from cryoplan.errors import InputError

#: A key of a procedure file: names (letters, digits, _ and -), each with an optional [index].
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\[\d{1,4}\])?(\.[A-Za-z_][A-Za-z0-9_-]*(\[\d{1,4}\])?)*")
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)(?:\[(\d+)\])?")
#: Longest key or output path accepted (characters).
MAX_PATH = 200
Scalar = float | int | bool | str


def key_parts(key: str) -> list[str | int]:
    """``"nerve[0].distance_mm"`` -> ``["nerve", 0, "distance_mm"]`` (the syntax is checked by
    the study's schema).

    >>> key_parts("protocol.phases[1].seconds")
    ['protocol', 'phases', 1, 'seconds']
    """
    parts: list[str | int] = []
    for piece in key.split("."):
        name, index = _PART.fullmatch(piece).groups()  # type: ignore[union-attr]
        parts.append(name)
        if index is not None:
            parts.append(int(index))
    return parts


def check_key(data: dict[str, Any], key: str) -> None:
    """Refuse a key that cannot be set in ``data``: an index past the end of a list, a name
    where the file has a list (or the reverse), or a key that holds a section or a list rather
    than one value (raises InputError naming the key; the schema judges the names)."""
    node: Any = data
    parts = key_parts(key)
    for k, part in enumerate(parts):
        here = ".".join(str(p) for p in parts[:k]) or "the base file"
        if isinstance(part, int):
            if not isinstance(node, list):
                raise InputError("key", key, f"a key of the base file ({here} is not a list)")
            if part >= len(node):
                raise InputError("key", key, f"an index below {len(node)} ({here} has {len(node)} item(s))")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise InputError("key", key, f"a key of the base file ({here} holds a value, not a section)")
            if part not in node:
                if any(isinstance(p, int) for p in parts[k:]):
                    raise InputError("key", key, f"an index into a list of the base file ({part} is not "
                                     f"in {here})")
                return  # a key the file leaves at its default: the schema says whether it exists
            node = node[part]
    if isinstance(node, dict | list):
        kind = "section" if isinstance(node, dict) else "list"
        raise InputError("key", key, f"a key that holds one value (in the base file it holds a {kind})")


def set_key(data: dict[str, Any], key: str, value: Scalar) -> None:
    """Set ``key`` in ``data`` (in place) to ``value``; missing sections are created (the key
    was checked by ``check_key``)."""
    node: Any = data
    parts = key_parts(key)
    for part in parts[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


# -- output paths --------------------------------------------------------------------------------

_NAME = r"[A-Za-z0-9_+-]+"
_SUFFIX = re.compile(rf"(?P<path>{_NAME}(?:\.{_NAME}|\[\d+\])*)"
                     r"(?:@(?P<at>[0-9]+(?:\.[0-9]*)?(?:e[+-]?\d+)?)|:(?P<reduce>min|max))?")


def check_output(path: str) -> None:
    """The syntax of an output path (what it reaches is known only from a result)."""
    if not _SUFFIX.fullmatch(path):
        raise InputError("outputs", path, "a result path like iceball.isotherms.-20.radius_mm or "
                         "nerves.0.min_temperature_c (keys joined by dots, then optionally @SECONDS, :min "
                         "or :max)")


def _steps(path: str) -> list[str]:
    return re.sub(r"\[(\d+)\]", r".\1", path).split(".")


class PathError(LookupError):
    """An output path that does not reach a value in a result: says where it stops."""


def _walk(node: Any, steps: list[str], done: list[str]) -> Any:
    """Follow ``steps`` from ``node``; a dict key may hold dots (the longest match wins)."""
    if not steps or node is None:
        return node
    where = ".".join(done) or "the result"
    if isinstance(node, list):
        if not steps[0].isdigit():
            raise PathError(f"a list index after {where} (it is a list of {len(node)})")
        k = int(steps[0])
        if k >= len(node):
            raise PathError(f"an index below {len(node)} after {where}")
        return _walk(node[k], steps[1:], done + [steps[0]])
    if isinstance(node, dict):
        for n in range(len(steps), 0, -1):
            name = ".".join(steps[:n])
            if name in node:
                return _walk(node[name], steps[n:], done + [name])
        keys = ", ".join(sorted(map(str, node)))
        shown = keys if len(keys) < 300 else keys[:297] + "..."
        raise PathError(f"one of the keys after {where}: {shown}")
    raise PathError(f"no more keys after {where} (it holds the value {node!r})")


def _times(result: dict[str, Any]) -> list[float]:
    times = (result.get("iceball") or {}).get("times_s")
    if not isinstance(times, list):
        raise PathError("a path without @ (this result has no iceball.times_s to take a time from)")
    return times


def _at(series: list, times: list[float], t: float) -> float | None:
    """The series at time ``t`` s, linear between output times; None outside the run."""
    if len(series) != len(times):
        raise PathError(f"a time series of the output times (this list has {len(series)} values, the run "
                        f"{len(times)} output times)")
    if not times or not times[0] <= t <= times[-1]:
        return None
    k = max(i for i, s in enumerate(times) if s <= t)
    if k == len(times) - 1 or times[k] == t:
        return series[k]
    a, b = series[k], series[k + 1]
    if a is None or b is None:
        return None
    w = (t - times[k]) / (times[k + 1] - times[k])
    return a + w * (b - a)


def get_output(result: dict[str, Any], path: str) -> Scalar | None:
    """The value at ``path`` in a result JSON (None where the result holds null); raises
    PathError when the path does not reach a single value."""
    match = _SUFFIX.fullmatch(path)
    assert match is not None  # checked by check_output
    value = _walk(result, _steps(match["path"]), [])
    if isinstance(value, dict):
        raise PathError(f"a path to a value (it reaches a section with keys {', '.join(sorted(value))})")
    if isinstance(value, list):
        if any(isinstance(v, dict | list) for v in value):
            raise PathError("a path to a value (it reaches a list of sections: add an index)")
        if match["at"] is not None:
            return _at(value, _times(result), float(match["at"]))
        numbers = [v for v in value if v is not None]
        if match["reduce"] is not None:
            return (min if match["reduce"] == "min" else max)(numbers) if numbers else None
        return value[-1] if value else None
    if match["at"] is not None or match["reduce"] is not None:
        raise PathError("@SECONDS, :min and :max only after a time series (a list)")
    return value
