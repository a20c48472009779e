"""Remake the synthetic bench data of this example from the probe it claims: the model at
mass_flow_g_per_s = 0.03 and heat_transfer_multiplier = 0.5, plus seeded Gaussian noise of the
stated SDs. Run it whenever the probe or solver model changes, so the example's data stay what
the model of this version predicts (the slow test checks the fit recovers the truth):

    python examples/calibration/make_synthetic.py
"""

from pathlib import Path

import numpy as np

from cryoplan.calibrate import spec
from cryoplan.calibrate.model import BenchModel

HERE = Path(__file__).resolve().parent
TRUTH = np.array([0.03, 0.5])  # the [[unknown]] keys' order in calibration.toml
SEED = 20261202

ICEBALL_HEAD = """\
# Ice-ball (0 °C) width and length in a 20 °C agar gel, read off photographs.
# SYNTHETIC example data: made by cryoplan itself (make_synthetic.py) from the 2.0 mm N2O probe with
# mass_flow_g_per_s = 0.03 and heat_transfer_multiplier = 0.5, plus Gaussian noise (SD 0.15 mm).
time_s,isotherm_c,width_mm,width_sd_mm,length_mm,length_sd_mm
"""
THERMOCOUPLE_HEAD = """\
# Thermocouples in the gel: r from the probe axis, z along the probe from its tip (shaft at +z).
# SYNTHETIC example data (see iceball.csv), Gaussian noise SD 0.5 °C.
time_s,r_mm,z_mm,temperature_c,temperature_sd_c
"""


def main() -> None:
    cal = spec.load(HERE / "calibration.toml")
    d = cal.data
    rng = np.random.default_rng(SEED)
    value = BenchModel(cal, 1)(TRUTH) + rng.normal(0.0, d.sd)
    size = d.kind != "temperature"
    rows = {}
    for k in np.flatnonzero(size):
        rows.setdefault((d.time_s[k], d.isotherm_c[k]), {})[d.kind[k]] = (value[k], d.sd[k])
    lines = [f"{t:g},{iso:g},{v['width'][0]:.2f},{v['width'][1]:g},{v['length'][0]:.2f},{v['length'][1]:g}"
             for (t, iso), v in rows.items()]
    (HERE / "iceball.csv").write_text(ICEBALL_HEAD + "\n".join(lines) + "\n")
    lines = [f"{d.time_s[k]:g},{d.r_mm[k]:g},{d.z_mm[k]:g},{value[k]:.2f},{d.sd[k]:g}"
             for k in np.flatnonzero(~size)]
    (HERE / "thermocouples.csv").write_text(THERMOCOUPLE_HEAD + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
