"""The package's shape: no import cycles, no upward imports, and configs that touch no random state.

The import graph counts every ``import`` statement of a module wherever it stands (top level, inside
a function, under ``TYPE_CHECKING``): a cycle hidden in a function-level import is still a cycle.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import stingylib
from stingylib.experiments import plan
from stingylib.methods import KD, Skeptical, Supervised
from stingylib.models import submodule_names
from stingylib.runs import RunConfig, records

PACKAGE = Path(stingylib.__file__).resolve().parent
ROOT = PACKAGE.parent

#: The floors of the package, bottom first: a module may import its own floor and the floors below.
FLOORS = [
    ("base", ["_version", "_checks", "_discover", "fields", "paths", "device", "stats"]),
    ("tensors, models, data, profiles", ["transforms", "losses", "attacks", "teachers", "fastpath", "models", "data",
                                         "profiles"]),
    ("runs: identity and storage", ["runs"]),
    ("training blocks", ["training", "evaluation", "checkpoints"]),
    ("methods", ["methods"]),
    ("engine", ["diagnostics", "engine"]),
    ("runner", ["runner", "progress"]),
    ("experiments", ["experiments"]),
    ("display", ["paper", "plots"]),
    ("entry points", ["cli", "__main__", ""]),  # "": the package's own __init__
]


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, package)
    return out


def _targets(module: str, package: bool, node: ast.AST, modules: dict) -> set[str]:
    """The stingylib modules an import statement of ``module`` imports."""

    def owner(name: str) -> str:
        while name not in modules:
            name = name.rsplit(".", 1)[0]
        return name

    if isinstance(node, ast.Import):
        return {owner(a.name) for a in node.names if a.name.split(".")[0] == "stingylib"}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level:
        base = module.split(".") if package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "stingylib":
        return set()
    return {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else owner(target) for a in node.names}


def import_graph() -> dict[str, set[str]]:
    """Module → the stingylib modules it imports (every import statement, anywhere in the module)."""
    modules = _modules()
    graph = {}
    for name, (path, package) in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            edges |= _targets(name, package, node, modules)
        graph[name] = edges - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def floor(module: str) -> int:
    """The floor of a stingylib module (by its first name below ``stingylib``)."""
    top = module.split(".")[1] if "." in module else ""
    for i, (_, names) in enumerate(FLOORS):
        if top in names:
            return i
    raise AssertionError(f"{module} is on no floor: add it to FLOORS")


def test_the_graph_sees_function_level_and_type_checking_imports():
    graph = import_graph()
    assert "stingylib.methods" in graph["stingylib.diagnostics"]  # under TYPE_CHECKING
    assert "stingylib.paths" in graph["stingylib.runs.record"]  # inside a function
    assert "stingylib.data.cifar" in graph["stingylib.data"]  # `from . import cifar`


def test_no_import_cycles():
    assert _cycles(import_graph()) == []


def test_a_cycle_is_found():
    graph = import_graph()
    graph["stingylib.runs.spec"] = graph["stingylib.runs.spec"] | {"stingylib.training"}  # training imports spec
    assert any({"stingylib.runs.spec", "stingylib.training"} <= set(c) for c in _cycles(graph))


def test_no_upward_imports():
    upward = sorted(f"{a} (floor {floor(a)}) → {b} (floor {floor(b)})"
                    for a, targets in import_graph().items() for b in targets if floor(b) > floor(a))
    assert not upward, "\n".join(upward)


def test_identity_and_storage_know_methods_only_by_their_spec():
    graph = import_graph()
    runs = [m for m in graph if m.startswith("stingylib.runs")]
    assert not [(m, t) for m in runs for t in graph[m] if t.startswith(("stingylib.methods", "stingylib.training"))]


def _random_state():
    return torch.get_rng_state().clone(), random.getstate(), np.random.get_state()


def _same(a, b) -> bool:
    """Whether two :func:`_random_state` results are the same state (torch, random, numpy)."""
    (torch_a, random_a, numpy_a), (torch_b, random_b, numpy_b) = a, b
    return (torch.equal(torch_a, torch_b) and random_a == random_b and numpy_a[0] == numpy_b[0]
            and np.array_equal(numpy_a[1], numpy_b[1]) and numpy_a[2:] == numpy_b[2:])


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_building_and_parsing_configs_touches_no_random_state(profile):
    submodule_names.cache_clear()  # a Skeptical config checks its exit: make it look again, here
    torch.manual_seed(1234)
    before = _random_state()
    runs = plan(profile, "all")  # every config of every experiment, the Skeptical Students' included
    assert any(isinstance(c.method, Skeptical) for c in runs)
    for cfg in runs:
        assert RunConfig.from_dict(cfg.to_dict()) == cfg and cfg.run_id
    teacher = RunConfig(method=Supervised(), model="resnet18", dataset="digits", epochs=1, lr=0.1)
    RunConfig(method=Skeptical(teacher=teacher.run_id, temperature=4.0, alpha=0.9, exit="stages.2"),
              model="resnet34", dataset="cifar100", epochs=1, lr=0.1, width=0.5)
    RunConfig(method=KD(teacher=teacher.run_id, transform="stingy_sparse", keep=2, temperature=4.0, alpha=0.9,
                        attack="tail_fill", attack_value=2.0), model="mobilenetv2", dataset="digits", epochs=1, lr=0.1)
    if profile == "cpu":  # parsing every committed record and calibration record
        good, bad = records(ROOT / "data" / "results" / "cpu")
        assert good and not bad
        records(ROOT / "data" / "calibration" / "cpu")
    assert _same(before, _random_state())


def test_a_module_added_to_a_package_of_units_is_imported_with_it(tmp_path, monkeypatch):
    import importlib
    import sys

    from stingylib._discover import import_all

    package = tmp_path / "units"
    package.mkdir()
    (package / "__init__.py").write_text("REGISTERED = []\n")
    for name in ("alpha", "beta", "_private"):
        (package / f"{name}.py").write_text(f"from units import REGISTERED\nREGISTERED.append({name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    units = importlib.import_module("units")
    try:
        assert import_all("units", units.__path__) == ["units.alpha", "units.beta"]
        assert units.REGISTERED == ["alpha", "beta"]
    finally:
        for name in [n for n in sys.modules if n == "units" or n.startswith("units.")]:
            del sys.modules[name]
