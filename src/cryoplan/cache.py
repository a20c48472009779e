"""Results kept between runs, in the user's cache folder: a probe's operating point (it needs
CoolProp, whose import alone takes about 2 s while the computation takes milliseconds) and an
anatomy's resting temperature (a sparse solve of 0.7 s at the planner's 0.75 mm).

An entry is named by a hash of what it was computed from (``key``, its ``repr``), the version of
CoolProp and cryoplan's source, so a change of any of them is a miss, never a stale hit. The
folder is ``$CRYOPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/cryoplan``, else ``~/.cache/cryoplan``;
``CRYOPLAN_CACHE_DIR=""`` turns the cache off. Entries are pickles, read only when the file
belongs to this user (a cache, like numba's, is trusted as the user's own files are); one that
cannot be read is computed again and rewritten. Writes are atomic (``atomic.write_atomic``); a
folder that cannot be written only loses the cache. Each kind keeps its ``KEEP`` newest entries.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from cryoplan.atomic import write_atomic

T = TypeVar("T")
#: Entries kept of each kind (the newest; at most ~16 MB each, a 2-million-voxel resting field).
KEEP = 32


def folder() -> Path | None:
    """Where entries are kept (None: the cache is off)."""
    given = os.environ.get("CRYOPLAN_CACHE_DIR")
    if given is not None:
        return Path(given) if given else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cryoplan"


@lru_cache(maxsize=1)
def _stamp() -> str:
    """CoolProp's version and cryoplan's source (every module: any change of the code is a new
    cache), what the entries depend on besides their key."""
    root = Path(__file__).parent
    digest = hashlib.sha256(metadata.version("CoolProp").encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def _path(kind: str, key: object) -> Path | None:
    where = folder()
    if where is None:
        return None
    name = hashlib.sha256(f"{_stamp()}|{kind}|{key!r}".encode()).hexdigest()[:32]
    return where / kind / f"{name}.pickle"


def _read(path: Path) -> tuple[bool, object]:
    try:
        if path.stat().st_uid != os.getuid():
            return False, None
        return True, pickle.loads(path.read_bytes())
    except Exception:  # missing, unreadable or damaged: computed again
        return False, None


def kept(kind: str, key: object, compute: Callable[[], T]) -> T:
    """``compute()``, or what it returned for the same ``kind`` and ``key`` before (in this
    process or an earlier one). Errors are not kept: a failing computation fails each time."""
    path = _path(kind, key)
    if path is not None:
        hit, value = _read(path)
        if hit:
            return value  # type: ignore[return-value]
    value = compute()
    if path is not None:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            write_atomic(path, lambda p: p.write_bytes(data))
            _prune(path.parent)
        except OSError:
            pass  # a read-only or full disk: no cache, the same result
    return value


def _prune(where: Path) -> None:
    """Keep the ``KEEP`` newest entries of a kind (older versions' and anatomies' go)."""
    entries = sorted(where.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)
