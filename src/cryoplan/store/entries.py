"""What the registry accepts: a procedure and its follow-ups, validated before anything is
written (bad input raises InputError naming the field, the value and what is allowed).

>>> pseudonym("pt-0042")
'pt-0042'
>>> pseudonym("John Smith")
Traceback (most recent call last):
...
cryoplan.errors.InputError: pseudonym = 'John Smith': allowed is a pseudonym: 4-32 letters, digits, \
'-' or '_', with at least one digit, and not a date (no names, no dates of birth)
>>> pseudonym("smith-03121958")
Traceback (most recent call last):
...
cryoplan.errors.InputError: pseudonym = 'smith-03121958': allowed is a pseudonym: 4-32 letters, \
digits, '-' or '_', with at least one digit, and not a date (no names, no dates of birth)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from cryoplan.errors import InputError

PSEUDONYM = re.compile(r"[A-Za-z0-9_-]{4,32}")  # matched whole: no trailing newline slips through
#: Words that announce a date of birth, and month names or their abbreviations next to digits.
DATE_WORDS = re.compile(r"dob|birth|born|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
                        r"(?=[-_]?\d)|(?<=\d)[-_]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
                        re.IGNORECASE)
PSEUDONYM_RULE = ("a pseudonym: 4-32 letters, digits, '-' or '_', with at least one digit, and not a "
                  "date (no names, no dates of birth)")


def _is_date(day: str, month: str, year: str) -> bool:
    """Whether the digit groups are a calendar date (a year of 2 digits, or 4 from 1900 to 2099)."""
    if len(year) not in (2, 4) or (len(year) == 4 and not 1900 <= int(year) <= 2099):
        return False
    try:
        dt.date(2000 if len(year) == 2 else int(year), int(month), int(day))
    except ValueError:
        return False
    return len(day) <= 2 and len(month) <= 2


def _dates_in(groups: list[str]) -> bool:
    """Whether digit groups hold a date in any order people write one: three groups (day, month
    and year in the orders D-M-Y, M-D-Y, Y-M-D) or one run of 6 or 8 digits (DDMMYY, MMDDYY,
    YYMMDD, DDMMYYYY, MMDDYYYY, YYYYMMDD).

    >>> _dates_in(["58", "3", "12"]), _dates_in(["120358"]), _dates_in(["0042"]), _dates_in(["123456"])
    (True, True, False, False)
    """
    for a, b, c in zip(groups, groups[1:], groups[2:], strict=False):
        if _is_date(a, b, c) or _is_date(b, a, c) or _is_date(c, b, a):
            return True
    for g in groups:
        if len(g) == 6 and (_is_date(g[:2], g[2:4], g[4:]) or _is_date(g[2:4], g[:2], g[4:])
                            or _is_date(g[4:], g[2:4], g[:2])):
            return True
        if len(g) == 8 and (_is_date(g[:2], g[2:4], g[4:]) or _is_date(g[2:4], g[:2], g[4:])
                            or _is_date(g[6:], g[4:6], g[:4])):
            return True
    return False


LEVEL = re.compile(r"^(L[1-5]|S[1-4]|T1[0-2]|T[1-9]|C[1-8])$")


def pseudonym(value: Any) -> str:
    """A patient's pseudonym: no name, no date of birth in any order or spelling.

    >>> [ok for ok in ("pt-0042", "pt-120358", "pt_580312", "pt-58-03-12", "pt-1958-3-12", "pt-12mar1958",
    ...               "pt-0042\\n") if _accepted(ok)]
    ['pt-0042']
    """
    text = str(value)
    groups = re.findall(r"\d+", text)
    if (not PSEUDONYM.fullmatch(text) or not groups or _dates_in(groups) or DATE_WORDS.search(text)):
        raise InputError("pseudonym", value, PSEUDONYM_RULE)
    return text


def _accepted(value: str) -> bool:
    try:
        pseudonym(value)
    except InputError:
        return False
    return True


def date(field: str, value: Any, not_before: dt.date | None = None) -> dt.date:
    """An ISO date (YYYY-MM-DD), not in the future and not before ``not_before``."""
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(field, value, "a date as YYYY-MM-DD") from None
    if day > dt.date.today():
        raise InputError(field, value, "a date not in the future")
    if not_before is not None and day < not_before:
        raise InputError(field, value, f"a date on or after {not_before.isoformat()} (the procedure)")
    return day


def levels(value: Any) -> str:
    """Treated levels as a comma-separated list, e.g. 'L3,L4,L5' or 'S1,S2'."""
    items = [s.strip().upper() for s in str(value).split(",") if s.strip()]
    if not items or any(not LEVEL.match(s) for s in items):
        raise InputError("levels", value, "spinal levels separated by commas, e.g. L3,L4,L5 or S1,S2")
    return ",".join(items)


def text(field: str, value: Any, most: int) -> str:
    """One line of plain text of 1 to ``most`` characters (the column's width)."""
    s = "" if value is None else str(value)
    if not s.strip() or len(s) > most or any(ord(c) < 32 or ord(c) == 127 for c in s):
        raise InputError(field, value, f"text of 1-{most} characters, no control characters (no NUL)")
    return s


def number(field: str, value: Any, low: float, high: float, kind=float) -> float | int | None:
    """A finite number in [low, high] (empty: None); text is parsed, infinity and NaN refused."""
    if value in ("", None):
        return None
    try:
        x = kind(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        x = None
    if x is None or not math.isfinite(x) or not low <= x <= high:
        what = "an integer" if kind is int else "a number"
        raise InputError(field, value, f"{what} from {low:g} to {high:g}")
    return x


def pain_score(value: Any) -> int:
    try:
        score = int(str(value))
    except ValueError:
        raise InputError("pain_score", value, "an integer from 0 to 10") from None
    if not 0 <= score <= 10:
        raise InputError("pain_score", value, "an integer from 0 to 10")
    return score


def flag(field: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    raise InputError(field, value, "yes/no (true/false, 1/0)")


#: Widths of the text columns (store/models.py).
WIDTHS = {"probe": 64, "gas": 16, "protocol": 128, "levels": 128}


@dataclass(frozen=True)
class ProcedureEntry:
    pseudonym: str
    treated_on: dt.date
    kind: str
    probe: str
    gas: str
    protocol: str
    total_freeze_s: float
    levels: str
    nerves_treated: int
    blocked_length_mm: float | None = None
    predicted_median_months: float | None = None
    depression: bool | None = None
    prior_lumbar_surgery: bool | None = None
    treated_joints: int | None = None
    opioid_use: bool | None = None
    regrowth_distance_mm: float | None = None
    result_json: str | None = None

    def __post_init__(self) -> None:
        """Every field against its type, its range and its column's width (store/models.py)."""
        pseudonym(self.pseudonym)
        if self.kind not in ("simulation", "plan"):
            raise InputError("kind", self.kind, "simulation or plan")
        for name, most in WIDTHS.items():
            text(name, getattr(self, name), most)
        if number("total_freeze_s", self.total_freeze_s, 1e-3, 86400) is None:
            raise InputError("total_freeze_s", self.total_freeze_s, "a number of seconds from 0.001 to 86400")
        if isinstance(self.nerves_treated, bool) or number("nerves_treated", self.nerves_treated, 1, 100,
                                                           int) != self.nerves_treated:
            raise InputError("nerves_treated", self.nerves_treated, "an integer from 1 to 100")
        number("blocked_length_mm", self.blocked_length_mm, 0, 1000)
        number("predicted_median_months", self.predicted_median_months, 0, 1200)
        number("regrowth_distance_mm", self.regrowth_distance_mm, 0, 1000)
        number("treated_joints", self.treated_joints, 1, 20, int)
        for flag in ("depression", "prior_lumbar_surgery", "opioid_use"):
            value = getattr(self, flag)
            if value is not None and not isinstance(value, bool):
                raise InputError(flag, value, "true, false or empty")


def protocol_text(phases: list[dict[str, Any]]) -> tuple[str, float]:
    """'2 x 120 s, 30 s thaw' and the total freezing time from a result's phase list."""
    freezes = [p["seconds"] for p in phases if p["kind"] == "freeze"]
    thaws = [p["seconds"] for p in phases if p["kind"] != "freeze"]
    if not freezes:
        raise InputError("protocol", phases, "a protocol with at least one freeze")
    text = (f"{len(freezes)} x {freezes[0]:g} s" if len(set(freezes)) == 1
            else " + ".join(f"{s:g} s" for s in freezes))
    if len(freezes) > 1 and thaws:
        text += f", {thaws[0]:g} s thaw"
    return text, float(sum(freezes))


def from_result(data: dict[str, Any], who: str, treated_on: Any, treated_levels: Any,
                nerves_treated: int | None = None) -> ProcedureEntry:
    """A registry entry from the JSON of ``cryoplan simulate`` or ``cryoplan plan``."""
    lv = levels(treated_levels)
    nerves = nerves_treated or len(lv.split(","))
    if data.get("kind") == "plan":
        if data.get("status") != "plan":
            raise InputError("RESULT.json", data.get("status"), "a plan that found a safe placement")
        inputs = data["inputs"]
        protocol, total = protocol_text(data["plan"]["protocol"])
        blocked = [t["blocked_length_mm"] for t in data["targets"] if t["blocked"]]
        median = (data.get("relief_months") or {}).get("median")
        # the gas of the file, else of its catalog probe (the session's summary names it)
        gas = inputs["cryogen"]["gas"] or (data.get("session") or {}).get("gas")
        probe = inputs["probe"].get("catalog") or "custom"
        patient = inputs.get("patient") or {}
        distance = (inputs.get("outcome") or {}).get("regrowth_distance_mm")
    elif "iceball" in data:
        protocol, total = protocol_text(data["protocol"])
        blocked = [n["blocked_length_mm"] for n in data.get("nerves") or [] if n["blocked"]]
        outcome = data.get("outcome") or {}
        median = (outcome.get("relief_months") or {}).get("median")
        probe = data["probe"].get("catalog") or f"{data['probe']['diameter_mm']:g} mm"
        gas = (data.get("cryogen") or {}).get("gas") or data["probe"]["boundary"]
        patient = outcome.get("patient") or {}
        distance = outcome.get("regrowth_distance_mm")
    else:
        raise InputError("RESULT.json", "{...}", "the JSON of cryoplan simulate or cryoplan plan")
    return ProcedureEntry(
        pseudonym=pseudonym(who), treated_on=date("treated_on", treated_on),
        kind=data.get("kind", "simulation"),
        probe=probe, gas=gas, protocol=protocol, total_freeze_s=total, levels=lv, nerves_treated=nerves,
        blocked_length_mm=sum(blocked) / len(blocked) if blocked else None,
        predicted_median_months=median, result_json=json.dumps(data),
        depression=patient.get("depression"), prior_lumbar_surgery=patient.get("prior_lumbar_surgery"),
        treated_joints=patient.get("treated_joints"), opioid_use=patient.get("opioid_use"),
        regrowth_distance_mm=distance,
    )
