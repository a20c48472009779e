"""Every module of cryoplan is imported by some test file (its doctests do not count): a new
module comes with its test. A package whose ``__init__`` only holds a docstring counts as
imported when one of its modules is."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC, TESTS = ROOT / "src", ROOT / "tests"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "cryoplan").rglob("*.py")):
        if "migrations" in path.parts:  # alembic's scripts, run by the registry's tests
            continue
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(text: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def untested(modules: dict[str, Path], imported: set[str]) -> list[str]:
    def covered(name: str) -> bool:
        if name in imported:
            return True
        path = modules[name]
        return (path.name == "__init__.py" and _docstring_only(path)
                and any(m.startswith(name + ".") and covered(m) for m in modules))

    return [name for name in modules if not covered(name)]


def test_every_module_is_imported_by_a_test():
    imported = set().union(*(_imported(p.read_text()) for p in TESTS.rglob("*.py")))
    missing = untested(_modules(), imported)
    assert missing == [], f"modules no test file imports: {missing}"


def test_a_module_without_a_test_is_found():
    modules = _modules()
    web = {m for m in modules if m == "cryoplan.web" or m.startswith("cryoplan.web.")}
    imported = set(modules) - web - {"cryoplan.progress"} | (web - {"cryoplan.web"})
    assert untested(modules, imported) == ["cryoplan.progress"]  # cryoplan.web counts through web.app
    assert untested(modules, imported - web) == ["cryoplan.progress", *sorted(web)]
