"""The calibration's figure: measured against model, the sizes and the thermocouple traces over
time (the model as the fitted run's full series), and the weighted residuals of each series."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cryoplan.atomic import write_atomic  # noqa: E402
from cryoplan.calibrate.least_squares import Fit  # noqa: E402
from cryoplan.calibrate.values import value_text  # noqa: E402
from cryoplan.procedure import Result  # noqa: E402
from cryoplan.units import c_to_k  # noqa: E402


def _series(fit: Fit, fitted: Result) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(panel, label, which data, model over the run's times) of each measured series."""
    data, th = fit.cal.data, fitted.thermal
    out = []
    for kind in ("width", "length"):
        for iso in np.unique(data.isotherm_c[data.kind == kind]):
            series = th.isotherms[c_to_k(float(iso))]
            model = 2 * series.radius if kind == "width" else series.length
            out.append(("sizes", f"{iso:g} °C {kind}", (data.kind == kind) & (data.isotherm_c == iso),
                        model * 1e3))
    temps = data.kind == "temperature"
    if temps.any():
        for j, (r, z) in enumerate(fitted.case.problem.sample_points * 1e3):
            sel = temps & np.isclose(data.r_mm, r) & np.isclose(data.z_mm, z)
            out.append(("temperatures", f"r {r:g}, z {z:g} mm", sel, th.samples[:, j] - 273.15))
    return out


def plot_fit(fit: Fit, fitted: Result, path: str | Path) -> None:
    """Write the PNG (atomically)."""
    data, times = fit.cal.data, fitted.thermal.times
    series = _series(fit, fitted)
    panels = list(dict.fromkeys(s[0] for s in series))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(5.2 * (len(panels) + 1), 4.4), squeeze=False)
    axes = dict(zip([*panels, "residuals"], axes[0], strict=True))
    sd = np.where(np.isfinite(data.sd), data.sd, 0.0)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (panel, label, sel, model) in enumerate(series):
        colour, ax = colours[k % len(colours)], axes[panel]
        ax.plot(times, model, color=colour, label=f"{label}: model")
        ax.errorbar(data.time_s[sel], data.value[sel], yerr=sd[sel], fmt="o", color=colour, ms=4, capsize=2,
                    label=f"{label}: measured")
        axes["residuals"].plot(data.time_s[sel], fit.weighted_residuals[sel], "o", color=colour, ms=4,
                               label=label)
    titles = {"sizes": ("Isotherm sizes", "mm"), "temperatures": ("Thermocouples", "°C"),
              "residuals": ("Residuals", "(model - measured) / sd" if data.weighted
                            else "model - measured (mm or °C)")}
    axes["residuals"].axhline(0.0, color="0.5", lw=0.8)
    for name, ax in axes.items():
        ax.set_title(titles[name][0])
        ax.set_ylabel(titles[name][1])
        ax.set_xlabel("time (s)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fitted_text = "; ".join(f"{u.key.removeprefix('probe.')} = {value_text(v, s, u.key)}"
                            for u, v, s in zip(fit.cal.unknowns, fit.values, fit.sd, strict=True))
    fig.suptitle(f"{fit.cal.name}: {fitted_text}", fontsize=10)
    fig.tight_layout()
    try:
        write_atomic(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    finally:
        plt.close(fig)
