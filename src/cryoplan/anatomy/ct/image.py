"""A CT volume in Hounsfield units on a voxel grid whose affine gives RAS+ millimetres.

RAS+ is the scanner's patient frame as nibabel and 3D Slicer use it: +x to the patient's
right, +y anterior, +z superior (DICOM's LPS with x and y negated). Nothing that could identify
the patient is kept: ``description`` is built from the image's geometry and modality only.

>>> import numpy as np
>>> image = CTImage(np.zeros((4, 5, 6), np.float32), np.diag([0.5, 0.5, 2.0, 1.0]), "CT 4x5x6")
>>> image.spacing_mm.tolist(), image.shape
([0.5, 0.5, 2.0], (4, 5, 6))
>>> image.world_mm(np.array([[1, 2, 3]])).tolist()
[[0.5, 1.0, 6.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cryoplan.named_warnings import NamedWarning


@dataclass(frozen=True)
class CTImage:
    """A CT: ``hu`` (float32, indexed [i, j, k]) in Hounsfield units, rescale already applied;
    ``affine`` (4 x 4) maps a voxel index (i, j, k, 1) to RAS+ mm; ``description`` says what was
    read (modality, size, spacing; never a patient's tag); ``warnings`` what the reader changed or
    doubts (a resampled series, a gantry tilt, other series left aside)."""

    hu: np.ndarray
    affine: np.ndarray
    description: str
    warnings: tuple[NamedWarning, ...] = field(default=())

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.hu.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> np.ndarray:
        """The voxel's edge lengths (mm) along i, j and k."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def world_mm(self, ijk: np.ndarray) -> np.ndarray:
        """Voxel indices (n x 3, fractional allowed) -> RAS+ mm (n x 3).

        Parameters
        ----------
        ijk : numpy.ndarray
            Voxel indices (n x 3), fractional allowed [-].

        Returns
        -------
        numpy.ndarray
            The points in RAS+ (n x 3) [mm].
        """
        ijk = np.asarray(ijk, float)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def voxel(self, xyz_mm: np.ndarray) -> np.ndarray:
        """RAS+ mm (n x 3) -> fractional voxel indices (n x 3).

        Parameters
        ----------
        xyz_mm : numpy.ndarray
            Points in RAS+ (n x 3) [mm].

        Returns
        -------
        numpy.ndarray
            Fractional voxel indices (n x 3) [-].
        """
        inverse = np.linalg.inv(self.affine)
        return np.asarray(xyz_mm, float) @ inverse[:3, :3].T + inverse[:3, 3]
