"""A fitted design key as text: its unit, and its value to the precision its uncertainty gives."""

from __future__ import annotations

import numpy as np

#: The unit suffixes of the design keys and how they are printed.
UNITS = {"_mm": "mm", "_g_per_s": "g/s", "_m2_k_per_w": "m²K/W"}


def key_suffix(key: str) -> str:
    """The unit suffix of a design key (``_mm``, ...), or ''."""
    return next((s for s in UNITS if key.endswith(s)), "")


def design_unit(key: str) -> str:
    """How the unit of a design key is printed (mm, g/s, ...), or ''."""
    return UNITS.get(key_suffix(key), "")


def value_text(value: float, sd: float, key: str) -> str:
    """'0.0612 ± 0.0021 mm': the value to the SD's second significant digit.

    >>> value_text(0.061234, 0.00213, "probe.supply.inner_diameter_mm")
    '0.0612 ± 0.0021 mm'
    """
    digits = max(0, 1 - int(np.floor(np.log10(sd)))) if sd > 0 else 6
    unit = design_unit(key)
    return f"{value:.{digits}f} ± {sd:.{digits}f}" + (f" {unit}" if unit else "")
