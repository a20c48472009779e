"""cryoplan: simulate and plan percutaneous cryoneurolysis of the nerves that carry back pain."""

__version__ = "0.1.0"
