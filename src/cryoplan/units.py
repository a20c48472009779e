"""Unit conversions used at the user boundary (SI inside, degrees Celsius outside)."""

ZERO_CELSIUS_K = 273.15
ATM_PA = 101_325.0
BAR_PA = 1e5


def c_to_k(celsius: float) -> float:
    """Degrees Celsius to kelvin.

    >>> c_to_k(-88.0)
    185.14999999999998
    """
    return celsius + ZERO_CELSIUS_K


def k_to_c(kelvin: float) -> float:
    """Kelvin to degrees Celsius."""
    return kelvin - ZERO_CELSIUS_K
