"""Unit conversions used at the user boundary (SI inside, degrees Celsius outside)."""

ZERO_CELSIUS_K = 273.15
ATM_PA = 101_325.0
BAR_PA = 1e5


def c_to_k(celsius: float) -> float:
    """Degrees Celsius to kelvin.

    Parameters
    ----------
    celsius : float
        Temperature [°C].

    Returns
    -------
    float
        The same temperature [K], ``celsius + 273.15``.

    Examples
    --------
    >>> c_to_k(-88.0)
    185.14999999999998
    """
    return celsius + ZERO_CELSIUS_K


def k_to_c(kelvin: float) -> float:
    """Kelvin to degrees Celsius.

    Parameters
    ----------
    kelvin : float
        Temperature [K].

    Returns
    -------
    float
        The same temperature [°C], ``kelvin - 273.15``.

    Examples
    --------
    >>> k_to_c(273.15)
    0.0
    """
    return kelvin - ZERO_CELSIUS_K
