"""Writing files so that a crash or an error never leaves a half-written one, and a run's
outputs all or none of them.

``write_atomic`` writes through a temporary file in the target's folder and a rename.
``OutputSet`` stages several files that way and renames them together at the end, so a failure
while any of them is produced leaves none of the set behind. ``check_writable`` says before a
run whether its outputs could be written at all.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with OutputSet() as out:
...     out.stage(d / "a.txt", lambda p: p.write_text("a"))
...     out.stage(d / "b.txt", lambda p: p.write_text("b"))
>>> sorted(p.name for p in d.iterdir())
['a.txt', 'b.txt']
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryoplan.errors import InputError

Writer = Callable[[Path], object]


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once at import, before any threads write
    os.umask(mask)
    return mask


_UMASK = _read_umask()
#: Folders of the kernel's own file systems: devices, processes, the system's settings.
SPECIAL_FOLDERS = (Path("/dev"), Path("/proc"), Path("/sys"))


def check_target(option: str, path: str | Path) -> None:
    """Refuse an output that would replace anything but a regular file (a FIFO, a device, a
    socket: a rename would turn it into a file) or that lies in a folder of the kernel's own
    file systems (/dev, /proc, /sys). A symbolic link is replaced as a link, never followed.

    >>> check_target("--json", "/dev/null")
    Traceback (most recent call last):
    ...
    cryoplan.errors.InputError: --json = '/dev/null': allowed is a regular file or a new path in a folder \
that is not /dev, /proc or /sys
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new path (a folder above it may be a file)
        mode = None
    except OSError as err:
        raise InputError(option, str(path), f"a path that can be examined ({err.strerror})") from None
    folder = path.parent.resolve()
    special = any(folder == f or f in folder.parents for f in SPECIAL_FOLDERS)
    if special or (mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode))):
        raise InputError(option, str(path), "a regular file or a new path in a folder that is not "
                                            "/dev, /proc or /sys")


def _stage(path: Path, write: Writer) -> Path:
    """Write ``path``'s content to a temporary file beside it; returns the temporary file."""
    check_target("output", path)  # also when the caller checked before a run: it may have changed
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it owner-only; give it a normal file's mode
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: str | Path, write: Writer) -> None:
    """Write a file through a temporary file in the same folder and a rename, so a crash or an
    error never leaves a half-written result. ``write(tmp_path)`` produces the content."""
    path = Path(path)
    tmp = _stage(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_text(data: Any) -> str:
    """The JSON of a result (NaN and infinity are refused: results write null instead)."""
    return json.dumps(data, indent=1, allow_nan=False)


def write_json(path: str | Path, data: Any) -> None:
    text = json_text(data)  # first: data that cannot be written leaves no temporary file either
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


class OutputSet:
    """A run's output files, written all or none: ``stage`` writes each to a temporary file
    beside its target; leaving the ``with`` block renames them all, or, after an error, removes
    them all."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self.written: list[Path] = []  # after the ``with`` block: the files written

    def stage(self, path: str | Path, write: Writer) -> None:
        self._staged.append((_stage(Path(path), write), Path(path)))

    def stage_json(self, path: str | Path, data: Any) -> None:
        text = json_text(data)
        self.stage(path, lambda p: p.write_text(text, encoding="utf-8"))

    def commit(self) -> list[Path]:
        """Rename every staged file onto its target; returns the targets."""
        done: list[Path] = []
        try:
            for tmp, path in self._staged:
                os.replace(tmp, path)
                done.append(path)
        except BaseException:
            for path in done:
                path.unlink(missing_ok=True)
            self.discard()
            raise
        self._staged = []
        self.written += done
        return done

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def check_writable(option: str, path: str | Path) -> None:
    """Refuse, before a run, an output path that could not be written: a folder, or a file in
    a folder that cannot be created or written (raises InputError naming ``option``)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(option, str(path), "a file path (this is a folder)")
    check_target(option, path)
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(option, str(path), f"a path in a folder ({parent} is a file)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(option, str(path), f"a path in a folder you can write ({parent} is not)")


def check_writable_dir(option: str, path: str | Path) -> None:
    """Like ``check_writable`` for an output folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(option, str(path), "a folder (this is a file)")
    check_writable(option, path / "x")
