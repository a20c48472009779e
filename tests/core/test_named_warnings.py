"""Named warnings (``cryoplan.named_warnings``): every code is documented for users, a warning
reads as one line, and an unknown code is a programming error."""

from pathlib import Path

import pytest

from cryoplan.named_warnings import CODES, NamedWarning

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_every_code_is_kebab_case_and_listed_in_the_users_documentation():
    text = DOCS.read_text(encoding="utf-8")
    for code, meaning in CODES.items():
        assert code == code.lower() and " " not in code and "_" not in code, code
        assert f"`{code}`" in text, f"{code} is not in docs/config.md"
        assert meaning and "\n" not in meaning


def test_a_warning_is_one_line_naming_what_it_is_about():
    w = NamedWarning("probe-no-liquid", "the argon expands to dry gas", "probe")
    assert str(w) == "probe: the argon expands to dry gas"
    assert str(NamedWarning("energy-balance", "0.7 % off")) == "0.7 % off"
    assert w.as_json() == {"code": "probe-no-liquid", "message": "the argon expands to dry gas",
                           "about": "probe"}
    with pytest.raises(ValueError, match="unknown warning code 'probe-no-gas'"):
        NamedWarning("probe-no-gas", "x")
