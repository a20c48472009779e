"""Tissue thermal properties: the cited library, custom tissues and the phase-change model."""

from cryoplan.tissue.library import get_tissue, tissue_names
from cryoplan.tissue.properties import Tissue

__all__ = ["Tissue", "get_tissue", "tissue_names"]
