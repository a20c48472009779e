"""The colours every figure shares (the HTML report's plotly figures and the PNG): one temperature
scale, white at 0 °C so frozen tissue (blue) and unfrozen tissue (red) part where the ice does,
and one colour per isotherm.

>>> round(ZERO_AT, 4), TEMPERATURE_STOPS[2]
(0.6186, (0.6186, '#f7f7f7'))
"""

from __future__ import annotations

#: Range of every temperature map (°C): the coldest a probe's ice reaches in the figures' scale,
#: and body temperature.
T_MIN_C, T_MAX_C = -60.0, 37.0
#: Where 0 °C falls on the scale (0 to 1).
ZERO_AT = round((0.0 - T_MIN_C) / (T_MAX_C - T_MIN_C), 4)
#: (position, colour) stops: ColorBrewer's RdBu ends and mid-tones, its white put at 0 °C.
TEMPERATURE_STOPS = ((0.0, "#053061"), (round(ZERO_AT / 2, 4), "#4393c3"), (ZERO_AT, "#f7f7f7"),
                     (round(ZERO_AT + (1 - ZERO_AT) / 2, 4), "#f4a582"), (1.0, "#67001f"))
#: Isotherm (°C, as the result JSON keys them) -> line colour.
ISOTHERM_COLOURS = {"0": "#1f77b4", "-20": "#2ca02c", "-40": "#9467bd"}


def isotherm_colour(celsius: float) -> str:
    """The line colour of an isotherm (black for one without its own).

    Parameters
    ----------
    celsius : float
        The isotherm [°C].

    Returns
    -------
    str
        A colour.

    Examples
    --------
    >>> isotherm_colour(-20.0), isotherm_colour(-10.0)
    ('#2ca02c', 'black')
    """
    return ISOTHERM_COLOURS.get(f"{celsius:g}", "black")
