"""A CT surveyed for cryoneurolysis: its tissues classified, its vertebrae found and named, and on
each lumbar level the left and right targets of the nerves a pain physician aims at.

The medial branch of a lumbar dorsal ramus crosses the root of the transverse process of the
vertebra below, where it meets that vertebra's superior articular process: the L4 medial branch
lies on L5's SAP-TP junction, the L1 medial branch on L2's (Bogduk, Wilson & Tynan 1982, J Anat
134:383; the target of medial branch blocks and neurotomy: Shuang et al. 2015, Medicine
94:e2367). So a level's targets are on the next vertebra's junctions (``landmarks``), and a level
whose lower neighbour is not in the CT has none (a named warning says so).

What it builds on: ``tissues.classify_tissues`` (Hounsfield units), ``vertebrae.find_vertebrae``
and ``name_levels`` (the canal as the spine's axis, discs as bone-area minima, levels counted
from the sacrum or from the level the caller names), ``landmarks.find_junctions``. The sacral
targets (the L5 dorsal ramus in the groove of the ala, the S1-S3 lateral branches at the
posterior foramina) are not found yet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.landmarks import Landmark, find_junctions
from cryoplan.anatomy.ct.tissues import TissueMap, classify_tissues
from cryoplan.anatomy.ct.vertebrae import LEVELS, Vertebrae, find_vertebrae, name_levels, relabelled
from cryoplan.errors import InputError
from cryoplan.named_warnings import NamedWarning


@dataclass(frozen=True)
class Target:
    """Where a nerve is aimed at on one side: the nerve, the vertebra whose bone it lies on, the
    SAP-TP junction (``point_mm``), the bone surface behind it where a probe's tip rests
    (``surface_mm``), both RAS+ mm, and the finder's confidence (0-1)."""

    side: str
    nerve: str
    bone: str
    point_mm: np.ndarray
    surface_mm: np.ndarray
    confidence: float
    moved_mm: np.ndarray | None = None  # moved by hand (a corrections file), RAS+ mm


@dataclass(frozen=True)
class Level:
    """A named vertebra: its body's centroid (RAS+ mm), its nerve's targets and the least of
    their confidences (None: no target)."""

    name: str
    centre_mm: np.ndarray
    targets: tuple[Target, ...]
    complete: bool  # a disc bounds it above and below within the CT

    @property
    def confidence(self) -> float | None:
        return min((t.confidence for t in self.targets), default=None)


@dataclass(frozen=True)
class Survey:
    """A CT's survey: what was read, the levels from the head down, the vertebrae and the tissue
    classes (labels on the CT's grid) and every warning (the reader's, the finders')."""

    description: str
    levels: tuple[Level, ...]
    vertebrae: Vertebrae
    warnings: tuple[NamedWarning, ...]
    tissues: TissueMap | None = None

    def target(self, level: str, side: str) -> Target | None:
        """The target of one level's nerve on one side (None: not found).

        Parameters
        ----------
        level : str
            The nerve's level, e.g. "L3" (the L3 medial branch, on L4's junction).
        side : str
            "left" or "right".

        Returns
        -------
        Target or None
            The target, RAS+ mm.
        """
        for lv in self.levels:
            if lv.name == level:
                return next((t for t in lv.targets if t.side == side), None)
        return None

    def require(self, level: str, side: str, where: str = "anatomy.levels") -> Target:
        """The target of one level's nerve on one side (raises InputError naming those found).

        Parameters
        ----------
        level : str
            The nerve's level, e.g. "L3".
        side : str
            "left" or "right".
        where : str, optional
            The input field named in an InputError.

        Returns
        -------
        Target
            The target, RAS+ mm.
        """
        found = self.target(level, side)
        if found is None:
            have = [f"{lv.name} {t.side}" for lv in self.levels for t in lv.targets]
            raise InputError(where, f"{level} {side}", "a level and side whose target the CT's "
                             "survey found: " + (", ".join(have) or "none (cryoplan ct tells why)"))
        return found


def nerve_of(bone: str) -> str | None:
    """The medial branch whose target lies on ``bone``'s SAP-TP junction: the level above's.

    Parameters
    ----------
    bone : str
        A vertebra's level (e.g. "L5"), one of ``vertebrae.LEVELS``.

    Returns
    -------
    str or None
        The nerve (e.g. "L4 medial branch"); None for the topmost level.

    References
    ----------
    .. [1] Bogduk N, Wilson AS, Tynan W, J Anat 134 (1982) 383: the medial branch crosses the
       root of the transverse process of the vertebra below.

    Examples
    --------
    >>> nerve_of("L5"), nerve_of("L1"), nerve_of("C1")
    ('L4 medial branch', 'T12 medial branch', None)
    """
    k = LEVELS.index(bone)
    return None if k == 0 else f"{LEVELS[k - 1]} medial branch"


def survey(image: CTImage, lowest: str | None = None, relabel: tuple[str, str] | None = None) -> Survey:
    """Survey a CT: tissues, vertebrae named, and each level's medial branch targets.

    Parameters
    ----------
    image : CTImage
        The CT (Hounsfield units on a RAS+ affine), e.g. from ``read.read_ct``.
    lowest : str, optional
        The level of the lowest vertebra in the CT (e.g. "L4"), when the caller knows it; else the
        levels are counted up from a sacrum in the CT (with a warning), or left unnamed.
    relabel : tuple of str, optional
        (was, is): the vertebra named ``was`` is ``is`` (``vertebrae.relabelled``), a correction
        by hand.

    Returns
    -------
    Survey
        The named levels with their targets (RAS+ mm) and every warning.
    """
    tissues = classify_tissues(image)
    vertebrae = name_levels(find_vertebrae(image, tissues), lowest)
    if relabel is not None:
        vertebrae = relabelled(vertebrae, *relabel)
    named = [v for v in vertebrae.vertebrae if v.name in LEVELS]
    vertebral = tuple(v.name for v in named if v.name != "S")  # the sacrum has no SAP-TP junction
    marks = find_junctions(image, vertebrae, tissues, vertebral) if vertebral else []
    by_bone: dict[str, list[Landmark]] = {}
    for m in marks:
        by_bone.setdefault(m.vertebra, []).append(m)
    levels, warnings = [], [*image.warnings, *vertebrae.warnings]
    for v in named:
        below = LEVELS[LEVELS.index(v.name) + 1] if v.name != LEVELS[-1] else None
        targets = tuple(Target(m.side, nerve_of(m.vertebra) or "", m.vertebra, m.junction_mm, m.surface_mm,
                               m.confidence) for m in by_bone.get(below or "", []))
        if v.name == "L5":
            warnings.append(NamedWarning("ct-target-not-found", "the L5 dorsal ramus's target (the groove "
                                         "of the sacral ala) is not found on a CT yet", v.name))
        elif v.name.startswith("L") and not targets:
            warnings.append(NamedWarning("ct-target-not-found", f"no target for the {v.name} medial branch: "
                                         f"{below}'s transverse processes are not in the CT or not found",
                                         v.name))
        levels.append(Level(v.name, v.body_centroid_mm, targets, v.complete))
    used = {t.bone for lv in levels for t in lv.targets}
    warnings += [w for m in marks if m.vertebra in used for w in m.warnings]  # of the targets given
    return Survey(image.description, tuple(levels), vertebrae, tuple(warnings), tissues)


def moved(found: Survey, moves: list[tuple[str, str, tuple[float, float, float]]]) -> Survey:
    """The survey with targets moved by hand, each with a ``target-moved`` warning.

    Parameters
    ----------
    found : Survey
        A CT's survey.
    moves : list of tuple
        (nerve level, side, shift (3,) [RAS+ mm]) per target moved.

    Returns
    -------
    Survey
        The same survey, the targets' points and surfaces shifted (raises InputError naming the
        targets found when one moved is not).
    """
    levels, warnings = list(found.levels), list(found.warnings)
    for level, side, by in moves:
        found_target = replace(found, levels=tuple(levels)).require(level, side, "corrections.move")
        shift = np.asarray(by, float)
        target = replace(found_target, point_mm=found_target.point_mm + shift,
                         surface_mm=found_target.surface_mm + shift, moved_mm=shift)
        k = next(i for i, lv in enumerate(levels) if lv.name == level)
        targets = tuple(target if t is found_target else t for t in levels[k].targets)
        levels[k] = replace(levels[k], targets=targets)
        text = f"moved by hand by {np.round(shift, 2).tolist()} mm (RAS+)"
        warnings.append(NamedWarning("target-moved", text, f"{level} {side}"))
    return replace(found, levels=tuple(levels), warnings=tuple(warnings))
