"""Sphinx configuration: the API reference of cryoplan's physics and the docs/*.md pages.

Build (from the repository root, with the ``docs`` extra installed)::

    sphinx-build -W --keep-going -q -b html docs docs/_build/html
"""

import os
import sys

# The source tree first, so the reference documents this checkout (installed or not).
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

project = "cryoplan"
author = "cryoplan developers"
copyright = "cryoplan developers"  # noqa: A001

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# autodoc: members in source order, dataclass fields included through their annotations.
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections carry types and units
autosummary_generate = False

# numpydoc: the class pages list their members through autodoc, not a second autosummary table.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# MyST: anchors for the headings the pages link to (config.md#limits and the like).
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

html_theme = "alabaster"
html_title = "cryoplan"

# lifelines' own docstrings (an imported base class) trip numpydoc's parser with a UserWarning
# that is not a Sphinx warning: not ours to fix, so silenced.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="potentially wrong underline length", category=UserWarning)
