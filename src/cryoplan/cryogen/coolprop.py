"""CoolProp, loaded on first use.

Importing CoolProp loads its whole fluid library, about 2 s, two thirds of what importing the
planner takes. Most runs never call it: a probe's operating point, the only CoolProp work of a
run, is kept between runs (``cryoplan.cache``). So the cryogen modules use this lazily loaded
module (``importlib.util.LazyLoader``), which imports CoolProp when one of its names is first
looked up.

>>> from cryoplan.cryogen.coolprop import CoolProp
>>> CoolProp.PQ_INPUTS == CoolProp.constants.PQ_INPUTS
True
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def _lazy(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} is not installed (pip install cryoplan installs it)")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def loaded() -> bool:
    """Whether CoolProp has been imported (not merely made ready to import).

    Returns
    -------
    bool
        True once a CoolProp name has been looked up.
    """
    module = sys.modules.get("CoolProp")
    return module is not None and not isinstance(module, importlib.util._LazyModule)


CoolProp = _lazy("CoolProp")
