import os
import tempfile

import pytest

from cryoplan.tissue import Tissue
from cryoplan.units import c_to_k

# the tests (and the processes they start) keep their cache of operating points apart from the user's
os.environ.setdefault("CRYOPLAN_CACHE_DIR", tempfile.mkdtemp(prefix="cryoplan-test-cache-"))


@pytest.fixture
def reference_tissue():
    """The properties of the verification problems (k_s 2.0, C_s 1.8e6, k_l 0.5, C_l 3.6e6)."""

    def make(latent=3.0e8, t_solidus_c=-8.0, t_liquidus_c=-1.0, **kw):
        return Tissue("reference", 0.5, 2.0, 3.6e6, 1.8e6, latent,
                      c_to_k(t_solidus_c), c_to_k(t_liquidus_c), **kw)

    return make
