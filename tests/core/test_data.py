"""The cited data files (``cryoplan.data``): every file shipped parses, each call gives a fresh
copy, and a missing file is an error."""

from importlib import resources

import pytest

from cryoplan.data import read_toml


def test_every_data_file_parses_and_each_read_is_a_fresh_copy():
    names = sorted(p.name for p in resources.files("cryoplan.data").iterdir() if p.name.endswith(".toml"))
    assert "probes.toml" in names and "tissues.toml" in names
    for name in names:
        assert isinstance(read_toml(name), dict) and read_toml(name), name
    first = read_toml("probes.toml")
    first.clear()
    assert read_toml("probes.toml")  # a caller changing its copy changes nobody else's


def test_a_missing_data_file_is_an_error():
    with pytest.raises(FileNotFoundError):
        read_toml("no-such-file.toml")
