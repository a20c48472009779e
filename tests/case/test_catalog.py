"""The probe catalog: needle gauges and the fit of a probe in its cannula, and every catalog
probe fitting its cannula and citing its sources."""

import pytest

from cryoplan.catalog import cannula, catalog_probe, check_fits, list_probes
from cryoplan.errors import InputError


def test_needle_gauges_and_probe_fit():
    assert cannula(12).inner_diameter_m == pytest.approx(2.159e-3)
    assert cannula(14).inner_diameter_m == pytest.approx(1.600e-3)
    outer = [cannula(g).outer_diameter_m for g in range(10, 28)]
    assert outer == sorted(outer, reverse=True)
    for g in range(10, 28):
        assert cannula(g).inner_diameter_m < cannula(g).outer_diameter_m
    with pytest.raises(InputError, match="probe.cannula_gauge"):
        cannula(9)
    with pytest.raises(InputError, match="inner diameter"):
        check_fits(2.0e-3, cannula(14).inner_diameter_m, 14)


def test_catalog_probes_fit_their_cannulas_and_cite_sources():
    for p in list_probes():
        if p.cannula_gauge is not None:
            check_fits(p.diameter_m, cannula(p.cannula_gauge).inner_diameter_m, p.cannula_gauge)
        size = "gauge" if p.keys.gauge is not None else "diameter"
        for key in (size, "active_length"):
            assert p.sources.get(key), f"{p.name}: {key} has no source"
        assert p.keys.family, f"{p.name}: no probe family"
    assert catalog_probe("n2o-1.4mm").cannula_gauge == 14
    with pytest.raises(InputError, match="probe.catalog"):
        catalog_probe("nope")
