"""The package's layering, read from the source with ``ast`` (nothing of contrastkit is imported to check it).

- (a) a layer imports only itself and the layers below it, in the order of the course;
- (b) no ``_private`` name crosses a module boundary;
- (c) every public name of a subpackage's face (its ``__init__``'s ``__all__``) is defined in exactly
  one module, inside that subpackage.
"""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import contrastkit

PACKAGE = Path(contrastkit.__file__).resolve().parent

#: Top-level component of contrastkit (module or subpackage) -> layer; a layer may import only layers <= its own.
LAYERS = {
    "_checks": 0,
    "_version": 0,
    "utils": 0,
    "distances": 1,
    "mining": 2,
    "losses": 3,
    "models": 4,
    "augment": 4,
    "data": 5,
    "evaluate": 6,
    "train": 7,
    "viz": 8,
    "widgets": 9,
    "runs": 10,
}
#: The root face and ``python -m contrastkit`` may import anything.
UNLAYERED = {"contrastkit", "contrastkit.__main__"}
#: Names a face deliberately re-exports from a lower layer: (subpackage, name) -> the module defining it.
RE_EXPORTS = {("evaluate", "METRICS"): "contrastkit.distances"}

SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def _module_name(path: Path) -> str:
    parts = ("contrastkit", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@functools.cache
def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> Iterator[tuple[int, str, list[str]]]:
    """``(line, imported module, imported names)`` for every import anywhere in ``module`` (lazy ones too)."""
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".") if _is_package(module) else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target, [alias.name for alias in node.names]


def _component(module: str) -> str | None:
    """The top-level component of a contrastkit module ("contrastkit.train.loop" -> "train")."""
    parts = module.split(".")
    return parts[1] if parts[0] == "contrastkit" and len(parts) > 1 else None


def _imported_components(module: str) -> Iterator[tuple[int, str]]:
    """The contrastkit components ``module`` imports; ``from contrastkit import X`` counts as importing X."""
    for line, target, names in _imports(module):
        if target == "contrastkit":
            for name in names:
                if name in LAYERS:
                    yield line, name
        elif target.startswith("contrastkit."):
            yield line, _component(target)  # type: ignore[misc]


@functools.cache
def _defined_names(module: str) -> frozenset[str]:
    """Names a module defines at its top level (functions, classes, assignments), not those it imports."""
    names: set[str] = set()
    for node in _tree(module).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names)


def _all(module: str) -> list[str] | None:
    """The module's ``__all__``, or None when it has none."""
    for node in _tree(module).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return None


# ----------------------------------------------------------------------------------------------
# (a) layers
# ----------------------------------------------------------------------------------------------


def test_every_module_belongs_to_a_layer() -> None:
    assert len(MODULES) > 40  # the parse found the package
    components = {_component(m) for m in MODULES if m not in UNLAYERED}
    assert components == set(LAYERS), "a new top-level module needs a place in LAYERS"
    assert set(SUBPACKAGES) == {"data", "evaluate", "losses", "runs", "train", "viz", "widgets"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in UNLAYERED))
def test_lower_layers_never_import_upper_ones(module: str) -> None:
    own = _component(module)
    upward = [
        f"line {line}: {module} (layer {LAYERS[own]}) imports contrastkit.{other} (layer {LAYERS[other]})"
        for line, other in _imported_components(module)
        if LAYERS[other] > LAYERS[own]
    ]
    assert not upward, "\n".join(upward)


def test_the_layer_check_sees_lazy_and_face_imports() -> None:
    """The parse finds imports inside functions and ``from contrastkit import X`` (runs draws with viz lazily)."""
    assert "viz" in {c for _, c in _imported_components("contrastkit.runs.runner")}
    assert {"losses", "mining", "viz"} <= {c for _, c in _imported_components("contrastkit.widgets.explorers")}


# ----------------------------------------------------------------------------------------------
# (b) private names stay in their module
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_is_imported_from_another_module(module: str) -> None:
    crossing = [
        f"line {line}: {module} imports {name} from {target}"
        for line, target, names in _imports(module)
        if target.split(".")[0] == "contrastkit" and target != module
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    assert not crossing, "\n".join(crossing)


# ----------------------------------------------------------------------------------------------
# (c) one concept, one home
# ----------------------------------------------------------------------------------------------


def _face_names() -> list[tuple[str, str]]:
    return [(sub, name) for sub in SUBPACKAGES for name in _all(f"contrastkit.{sub}") or ()]


@pytest.mark.parametrize(("subpackage", "name"), _face_names(), ids=lambda v: v)
def test_each_public_name_of_a_face_is_defined_in_exactly_one_module(subpackage: str, name: str) -> None:
    homes = sorted(m for m in MODULES if name in _defined_names(m))
    expected_home = RE_EXPORTS.get((subpackage, name))
    if expected_home is not None:
        assert homes == [expected_home], homes
    else:
        assert len(homes) == 1, f"{name} is defined in {homes or 'no module'}"
        assert homes[0] == f"contrastkit.{subpackage}" or homes[0].startswith(f"contrastkit.{subpackage}."), homes
    face = importlib.import_module(f"contrastkit.{subpackage}")
    assert getattr(face, name) is getattr(importlib.import_module(homes[0]), name)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _all(m) is not None and m not in UNLAYERED))
def test_every_name_in_all_exists(module: str) -> None:
    declared = _all(module) or []
    tree = _tree(module)
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}  # fmt: skip
    missing = [n for n in declared if n not in _defined_names(module) | imported]
    assert not missing, missing
    assert len(declared) == len(set(declared)), "a name is listed twice"


def test_the_root_face_lists_every_layer() -> None:
    lazy = set(contrastkit._SUBMODULES)
    assert lazy == set(LAYERS) - {"_checks", "_version"}
    assert set(contrastkit.__all__) == lazy | {"__version__", "by_mode", "pick_device", "quick_mode", "seed_everything"}
    for name in contrastkit.__all__:
        assert getattr(contrastkit, name) is not None, name
