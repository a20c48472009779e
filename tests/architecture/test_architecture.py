"""The house's floors (docs/architecture.md): no import cycle between modules, imports inside
functions included, and the layers contract of pyproject.toml kept (``lint-imports`` runs it in CI
too). Both read the code's imports with grimp, import-linter's own graph builder."""

from pathlib import Path

import grimp
import pytest
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("cryoplan")


def _cycles(graph) -> list[list[str]]:
    """Strongly connected sets of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others(graph):
    assert _cycles(graph) == []


def test_a_cycle_is_found_when_there_is_one():
    graph = grimp.build_graph("cryoplan")
    graph.add_import(importer="cryoplan.units", imported="cryoplan.service")
    assert any("cryoplan.units" in c and "cryoplan.service" in c for c in _cycles(graph))


def test_imports_inside_functions_are_in_the_graph(graph):
    # service reads the registry's model inside a function (SQLAlchemy only when asked for)
    assert graph.direct_import_exists(importer="cryoplan.service", imported="cryoplan.store.survival")


def test_the_layers_contract_is_kept(monkeypatch):
    monkeypatch.chdir(ROOT)  # where pyproject.toml holds the contract
    assert lint_imports(no_cache=True, no_logo=True) == EXIT_STATUS_SUCCESS


def test_every_module_name_is_unique():
    """A module's name says what it is wherever it is read (docs/architecture.md): no two
    modules of the package share one (packages' ``__init__`` aside)."""
    names = [p.stem for p in (ROOT / "src" / "cryoplan").rglob("*.py") if p.stem != "__init__"]
    assert sorted({n for n in names if names.count(n) > 1}) == []
