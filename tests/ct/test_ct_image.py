"""The CT image's frame: voxel indices to RAS+ mm and back."""

import numpy as np

from cryoplan.anatomy.ct.image import CTImage


def test_world_and_voxel_are_inverse_for_an_oblique_affine():
    theta = np.radians(7.0)
    rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 0.7, 2.5])
    affine[:3, 3] = [-120.0, 40.0, -300.0]
    image = CTImage(np.zeros((8, 9, 10), np.float32), affine, "CT 8x9x10")
    ijk = np.array([[0.0, 0.0, 0.0], [3.5, 2.0, 9.0]])
    np.testing.assert_allclose(image.voxel(image.world_mm(ijk)), ijk, atol=1e-9)
    np.testing.assert_allclose(image.spacing_mm, [0.7, 0.7, 2.5])
