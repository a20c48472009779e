"""The physics API is documented (docs/api.rst): every public function of the physics packages,
and every public method of their public classes, has a numpydoc docstring whose ``Parameters``
section names each of its arguments and whose ``Returns`` (or ``Yields``) section says what comes
back, unless nothing does (``-> None``, or unannotated with no ``return value``: the compiled
kernels) or it is a property. Public: a name without a leading underscore, in a module without
one, at module level or in a public module-level class. Their formatting is checked by the
Sphinx build (numpydoc) for the modules docs/api.rst lists, their units by review."""

import ast
import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "cryoplan"
PHYSICS = ["units.py", "protocol.py", "cryogen", "thermal", "tissue", "injury", "outcome", "anatomy"]

_PROPERTIES = {"property", "cached_property"}
_HEADER = re.compile(r"^-{3,}$")


def _modules() -> list[Path]:
    paths = []
    for entry in PHYSICS:
        path = PACKAGE / entry
        paths.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [p for p in paths if not any(part.startswith("_") for part in p.relative_to(PACKAGE).parts)]


def _sections(doc: str) -> dict[str, list[str]]:
    """A numpydoc docstring's sections: each title (underlined with dashes) to its lines."""
    lines = inspect.cleandoc(doc).splitlines()
    sections: dict[str, list[str]] = {}
    current = None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and line.strip() and _HEADER.match(lines[i + 1].strip()):
            current = line.strip()
            sections[current] = []
        elif current is not None and not _HEADER.match(line.strip()):
            sections[current].append(line)
    return sections


def _documented_names(lines: list[str]) -> set[str]:
    """The names of a Parameters section: its unindented ``name : type`` (or ``a, b : type``)
    lines, ``*args`` and ``**kwargs`` without their stars."""
    names = set()
    for line in lines:
        if line.strip() and not line[0].isspace():
            names.update(n.strip().lstrip("*") for n in line.split(" : ")[0].split(","))
    return names


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    out = set()
    for d in node.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        out.add(d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", ""))
    return out


def _returns_something(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a function returns a value: its annotation says so (``-> None`` says not), or,
    unannotated (the compiled kernels), its own body has a ``return value`` or a ``yield``."""
    if node.returns is not None:
        return not (isinstance(node.returns, ast.Constant) and node.returns.value is None)
    stack = list(node.body)
    while stack:
        n = stack.pop()
        if (isinstance(n, ast.Return) and n.value is not None) or isinstance(n, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(n))
    return False


def _problems(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    decorators = _decorators(node)
    if decorators & _PROPERTIES or "setter" in decorators or "deleter" in decorators:
        return []
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args]
    if method and "staticmethod" not in decorators and names:
        names = names[1:]  # self or cls
    names += [x.arg for x in a.kwonlyargs]
    returns = _returns_something(node)
    doc = ast.get_docstring(node, clean=False)
    if doc is None:
        return ["no docstring"] if names or returns else []
    sections = _sections(doc)
    problems = []
    if names:
        if "Parameters" not in sections:
            problems.append("no Parameters section")
        else:
            documented = _documented_names(sections["Parameters"] + sections.get("Other Parameters", []))
            missing = [n for n in names if n not in documented]
            if missing:
                problems.append("Parameters misses " + ", ".join(missing))
    if returns and "Returns" not in sections and "Yields" not in sections:
        problems.append("no Returns section")
    return problems


def offenders(source: str, module: str) -> list[str]:
    """``module.function: problem`` for each public function or method of ``source`` whose
    docstring lacks a section it needs."""
    out = []

    def check(node, qualname: str, method: bool) -> None:
        problems = _problems(node, method)
        if problems:
            out.append(f"{module}.{qualname} (line {node.lineno}): " + "; ".join(problems))

    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.parse(source).body:
        if isinstance(node, functions) and not node.name.startswith("_"):
            check(node, node.name, method=False)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for member in node.body:
                if isinstance(member, functions) and not member.name.startswith("_"):
                    check(member, f"{node.name}.{member.name}", method=True)
    return out


def test_the_physics_api_is_documented():
    found = []
    for path in _modules():
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found += offenders(path.read_text(), module)
    assert not found, "public functions without their numpydoc sections:\n  " + "\n  ".join(found)


def test_a_missing_section_is_found():
    source = '''
def documented(temperature: float, *args, **kwargs) -> float:
    """Fine.

    Parameters
    ----------
    temperature : float
        Tissue temperature [K].
    *args
        Ignored.

    Returns
    -------
    float
        The same [K].
    """


def no_returns(temperature: float) -> float:
    """Returns nothing said.

    Parameters
    ----------
    temperature : float
        Tissue temperature [K].
    """


def no_parameters(temperature: float) -> None:
    """Returns None, so no Returns section needed; but no Parameters."""


def one_missing(a: float, b: float) -> float:
    """One argument left out.

    Parameters
    ----------
    a : float
        A [m].

    Returns
    -------
    float
        A [m].
    """


def undocumented(x):
    pass


def kernel_like(t, u):
    """Unannotated and returning nothing (a compiled kernel): no Returns needed.

    Parameters
    ----------
    t, u : numpy.ndarray
        Temperature [K] and Kirchhoff potential [W/m], written.
    """
    t[0] = u[0]


def unannotated_value(t):
    """Unannotated but returning a value.

    Parameters
    ----------
    t : float
        Temperature [K].
    """
    return t


def _private(x):
    pass


class Thing:
    def __init__(self, x):
        pass

    @property
    def size(self) -> float:
        """A property needs no Returns."""

    def scaled(self, factor: float) -> float:
        """No sections."""

    @classmethod
    def make(cls) -> "Thing":
        """No arguments but cls.

        Returns
        -------
        Thing
            One.
        """
'''
    found = offenders(source, "m")
    assert [f.split(" (")[0] for f in found] == [
        "m.no_returns",
        "m.no_parameters",
        "m.one_missing",
        "m.undocumented",
        "m.unannotated_value",
        "m.Thing.scaled",
    ]
    assert found[0].endswith("no Returns section")
    assert found[1].endswith("no Parameters section")
    assert found[2].endswith("Parameters misses b")
    assert found[3].endswith("no docstring")
    assert found[4].endswith("no Returns section")
    assert found[5].endswith("no Parameters section; no Returns section")


def test_the_physics_modules_are_all_seen():
    names = {p.relative_to(PACKAGE).as_posix() for p in _modules()}
    assert {"units.py", "thermal/solver.py", "anatomy/templates.py", "anatomy/ct/read.py"} <= names
