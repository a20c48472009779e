"""The TPTBox sample CT (tests/data/ct/tptbox-L2-L4, from github.com/Hendrik-code/TPTBox,
Apache-2.0; see its SOURCE.md) as a CTImage read with nibabel in its own P-I-R voxel order, and
the ground truth of its SAP-TP junctions."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from cryoplan.anatomy.ct.image import CTImage

FOLDER = Path(__file__).resolve().parents[1] / "data" / "ct" / "tptbox-L2-L4"
VERTEBRA = {"L2": 21, "L3": 22, "L4": 23}
TP = {"left": 43, "right": 44}
SAP = {"left": 45, "right": 46}
#: Fewer TP voxels touching the SAP than this: the junction is cut by the crop (L2), no truth.
MIN_CONTACT_VOXELS = 10


@lru_cache(maxsize=1)
def sample() -> tuple[CTImage, np.ndarray, np.ndarray]:
    """The CT (HU, its affine unchanged: axis codes P-I-R), the vertebra and the subregion labels."""
    import nibabel as nib

    ct = nib.load(FOLDER / "sub-ct_label-22_ct.nii.gz")
    vert = np.asanyarray(nib.load(FOLDER / "sub-ct_seg-vert_label-22_msk.nii.gz").dataobj).astype(np.int16)
    sub = np.asanyarray(nib.load(FOLDER / "sub-ct_seg-subreg_label-22_msk.nii.gz").dataobj).astype(np.int16)
    hu = np.asanyarray(ct.dataobj).astype(np.float32)
    image = CTImage(hu, ct.affine, "CT 73x47x73, 1.5 mm (TPTBox sample)")
    return image, vert, sub


def junction_truth(level: str, side: str, surface: bool = False) -> tuple[np.ndarray | None, int]:
    """The ground truth of a SAP-TP junction (RAS+ mm) and the voxels it rests on: the centroid of
    the transverse-process voxels (43 left / 44 right) of the vertebra that touch (26 neighbours)
    its superior-articular-process voxels (45 / 46). ``surface``: only those of them on the bone's
    surface (touching a voxel outside every vertebra). None when fewer than MIN_CONTACT_VOXELS."""
    image, vert, sub = sample()
    mine = vert == VERTEBRA[level]
    cube = np.ones((3, 3, 3), bool)
    touch = mine & (sub == TP[side]) & ndi.binary_dilation(mine & (sub == SAP[side]), cube)
    if surface:
        touch &= ndi.binary_dilation(vert == 0, cube)
    n = int(touch.sum())
    if n < MIN_CONTACT_VOXELS:
        return None, n
    return image.world_mm(np.argwhere(touch)).mean(axis=0), n
