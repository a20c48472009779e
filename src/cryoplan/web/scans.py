"""CTs uploaded to the web planner, kept on the server under ids it makes up, so a plan names an
uploaded CT by its id and never by a path.

Each CT lives in ``DATA/cts/<32 hex id>/ct.zip``, ``ct.nii`` or ``ct.nii.gz``: the server names the
file by what its first bytes are (a zip of a DICOM series, a gzip-compressed or plain NIfTI-1 or
NIfTI-2 file) and refuses anything else; the name the browser sent is never used. The bytes are
streamed to a temporary file and renamed into place once whole, so a broken upload leaves
nothing. Nothing here reads the CT: it is read (``anatomy.ct.read``, within its limits) only in
the run that plans on it, in a worker process.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from cryoplan.errors import InputError

SCAN_ID = re.compile(r"^[0-9a-f]{32}$")
#: Most CTs kept at once (delete one to upload another).
MAX_SCANS = 16
#: How many first bytes tell a file's format: a NIfTI-1 header's magic sits at byte 344.
SNIFF_BYTES = 352


class TooMany(Exception):
    pass


@dataclass(frozen=True)
class Scan:
    id: str
    format: str  # "zip", "nii.gz" or "nii"
    bytes: int


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes (``SNIFF_BYTES``), or None.

    Parameters
    ----------
    head : bytes
        The file's first bytes.

    Returns
    -------
    str or None
        "zip" (a zip archive), "nii.gz" (gzip: a compressed NIfTI), "nii" (a one-file NIfTI-1 or
        NIfTI-2 image), None (none of them).

    Examples
    --------
    >>> sniff(b"PK\\x03\\x04" + bytes(400)), sniff(b"\\x1f\\x8b" + bytes(400)), sniff(b"%PDF" + bytes(400))
    ('zip', 'nii.gz', None)
    """
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "nii.gz"
    if head[344:348] == b"n+1\x00" or head[4:12] == b"n+2\x00\r\n\x1a\n":  # one-file NIfTI-1, NIfTI-2
        return "nii"
    return None


class Scans:
    """The uploaded CTs of a server, in ``data_dir/cts``."""

    def __init__(self, data_dir: Path, max_scans: int = MAX_SCANS) -> None:
        self.root = Path(data_dir) / "cts"
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_scans = max_scans

    def ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if SCAN_ID.match(p.name) and p.is_dir())

    async def save(self, chunks: AsyncIterator[bytes]) -> Scan:
        """Store an uploaded CT from its body's chunks (InputError: not a zip or NIfTI file;
        TooMany: ``max_scans`` are kept already)."""
        if len(self.ids()) >= self.max_scans:
            raise TooMany(f"{self.max_scans} CTs are kept (delete one: DELETE /api/cts/ID)")
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        size, head, kind = 0, b"", None
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    if len(head) < SNIFF_BYTES:
                        head += chunk[:SNIFF_BYTES - len(head)]
                    size += len(chunk)
                    out.write(chunk)
            kind = sniff(head)
            if kind is None:
                raise InputError("ct", f"a file of {size} bytes starting {head[:8]!r}",
                                 "a zip of a DICOM series, or a NIfTI file (.nii or .nii.gz)")
            scan = Scan(uuid.uuid4().hex, kind, size)
            folder = self.root / scan.id
            folder.mkdir()
            os.replace(tmp, folder / f"ct.{kind}")
            return scan
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def path(self, scan_id: str) -> Path:
        """The stored file of a CT (KeyError: no such CT)."""
        if not SCAN_ID.match(scan_id):
            raise KeyError(scan_id)
        found = sorted((self.root / scan_id).glob("ct.*")) if (self.root / scan_id).is_dir() else []
        if not found:
            raise KeyError(scan_id)
        return found[0]

    def delete(self, scan_id: str) -> None:
        """Remove a CT (KeyError: no such CT)."""
        shutil.rmtree(self.path(scan_id).parent)
