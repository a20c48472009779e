"""Anatomy: label volumes (templates, NIfTI), label tables and exports."""
