"""Freeze / thaw protocols: an ordered list of phases.

A *freeze* runs the cryogen; a *passive thaw* stops the gas (the probe surface then passes no
heat and the tissue rewarms from around it); an *active thaw* drives gas or a heater at
``temperature`` behind the probe's internal heat-transfer coefficient (a fixed-temperature probe
holds its wall at that temperature). Typical cryoneurolysis protocols are two or three freezes of
2-3 minutes separated by thaws (Trescot, Pain Physician 6 (2003) 345).

>>> p = Protocol.of([Phase("freeze", 120), Phase("passive-thaw", 30), Phase("freeze", 120)])
>>> p.total_seconds
270.0
>>> [(q.kind, q.seconds) for q in cycles(2, 120, 30, observe=60)]
[('freeze', 120.0), ('passive-thaw', 30.0), ('freeze', 120.0), ('passive-thaw', 60.0)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryoplan.errors import InputError

PhaseKind = Literal["freeze", "passive-thaw", "active-thaw"]
PHASE_KINDS = ("freeze", "passive-thaw", "active-thaw")

#: Active thaw gas temperature when none is given: room-temperature gas routed to the tip without
#: expansion (warm-gas thaw of N2O consoles; Irwin & Trescot, Cryoneuroablation, 2015, ch. 79).
DEFAULT_ACTIVE_THAW_K = 293.15


@dataclass(frozen=True)
class Phase:
    kind: PhaseKind
    seconds: float
    temperature_k: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in PHASE_KINDS:
            raise InputError("protocol.phases.kind", self.kind, "one of " + ", ".join(PHASE_KINDS))
        if not self.seconds > 0:
            raise InputError("protocol.phases.seconds", self.seconds, "a duration > 0 s")


@dataclass(frozen=True)
class Protocol:
    phases: tuple[Phase, ...]

    @classmethod
    def of(cls, phases: list[Phase]) -> Protocol:
        """A protocol from its phases, in order.

        Parameters
        ----------
        phases : list of Phase
            The freezes and thaws, in the order they run; at least one.

        Returns
        -------
        Protocol
            The protocol, its phases as a tuple.

        Raises
        ------
        InputError
            When ``phases`` is empty.

        Examples
        --------
        >>> Protocol.of([Phase("freeze", 120), Phase("passive-thaw", 30)]).phases[1].kind
        'passive-thaw'
        """
        if not phases:
            raise InputError("protocol.phases", [], "at least one phase")
        return cls(tuple(phases))

    @property
    def total_seconds(self) -> float:
        """Duration of the whole protocol, the sum of its phases' durations.

        Returns
        -------
        float
            Total duration [s].

        Examples
        --------
        >>> Protocol.of([Phase("freeze", 120), Phase("passive-thaw", 30)]).total_seconds
        150.0
        """
        return float(sum(p.seconds for p in self.phases))


def cycles(n: int, freeze: float, thaw: float, observe: float = 0.0) -> list[Phase]:
    """``n`` freezes of ``freeze`` s with passive thaws of ``thaw`` s between them (none when
    0), then a last passive thaw of ``observe`` s that follows the cold spreading after the gas
    stops (none when 0): the one freeze-thaw protocol of the planner and the web planner.

    Parameters
    ----------
    n : int
        Number of freezes [-].
    freeze : float
        Duration of each freeze [s].
    thaw : float
        Duration of each passive thaw between two freezes [s]; 0 for none.
    observe : float, optional
        Duration of the passive thaw after the last freeze [s]; 0 (default) for none.

    Returns
    -------
    list of Phase
        The phases in order, durations in seconds.

    References
    ----------
    .. [1] Trescot AM, Pain Physician 6 (2003) 345: typical cryoneurolysis protocols are two or
       three freezes of 2-3 minutes separated by thaws.

    Examples
    --------
    >>> [(q.kind, q.seconds) for q in cycles(2, 120, 30)]
    [('freeze', 120.0), ('passive-thaw', 30.0), ('freeze', 120.0)]
    """
    phases: list[Phase] = []
    for k in range(n):
        if k and thaw > 0:
            phases.append(Phase("passive-thaw", float(thaw)))
        phases.append(Phase("freeze", float(freeze)))
    if observe > 0:
        phases.append(Phase("passive-thaw", float(observe)))
    return phases
