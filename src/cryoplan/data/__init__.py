"""Cited data files shipped with cryoplan (TOML)."""

import tomllib
from importlib import resources


def read_toml(name: str) -> dict:
    """Parse one of the package's data files, e.g. ``read_toml("probes.toml")`` (a fresh dict
    each call: callers cache what they keep)."""
    return tomllib.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
