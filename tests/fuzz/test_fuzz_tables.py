"""Property-based fuzz of the calibration's measurement tables (``calibrate.spec``): whatever the
text or bytes of an isotherm or thermocouple CSV, it is read into measurements or refused with an
InputError on one line; never another exception. (Hand-made bad tables are in
tests/studies/test_calibrate.py.)"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryoplan.calibrate.spec import ISOTHERM_COLUMNS, THERMOCOUPLE_COLUMNS, read_isotherms, read_thermocouples
from cryoplan.errors import InputError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
CELL = st.one_of(st.sampled_from(["", "0", "1", "-1", "1e308", "nan", "inf", "-0", "12.5", '"3"', "x", "\x00",
                                  "1,2", '"', "9" * 200_000]),
                 st.text(max_size=12))


def _table(columns: tuple[str, ...]):
    header = st.lists(st.one_of(st.sampled_from(columns), st.text(max_size=8)), min_size=1, max_size=7)
    rows = st.lists(st.lists(CELL, min_size=1, max_size=7), max_size=5)
    return st.tuples(header, rows).map(lambda hr: "\n".join([",".join(hr[0])] + [",".join(r) for r in hr[1]]))


def _read(reader, path: Path, geometry: str) -> None:
    try:
        reader(path, 120.0, geometry)
    except InputError as err:
        assert "\n" not in str(err).strip()


@pytest.mark.parametrize(("reader", "columns"), [(read_isotherms, ISOTHERM_COLUMNS),
                                                 (read_thermocouples, THERMOCOUPLE_COLUMNS)])
@FUZZ
@given(text=st.data())
def test_a_table_of_any_text_is_read_or_refused_in_one_line(tmp_path_factory, reader, columns, text):
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    path.write_text(text.draw(_table(columns)), encoding="utf-8")
    for geometry in ("axisymmetric", "radial"):
        _read(reader, path, geometry)


@FUZZ
@given(raw=st.binary(max_size=400))
def test_a_table_of_any_bytes_is_read_or_refused_in_one_line(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    path.write_bytes(b"time_s,r_mm,z_mm,temperature_c\n" + raw)
    _read(read_thermocouples, path, "axisymmetric")


@pytest.mark.parametrize("row", ["1,0," + "9" * 200_000, "1,0,\x002", "1,0,3,4,5", "\ufeff1,0,3"])
def test_a_hostile_row_under_a_valid_header_is_refused_in_one_line(tmp_path, row):
    path = tmp_path / "iso.csv"
    path.write_text("time_s,isotherm_c,width_mm\n" + row + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_isotherms(path, 120.0, "axisymmetric")
    assert "\n" not in str(caught.value).strip() and "row 2" in str(caught.value)
