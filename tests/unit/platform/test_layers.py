"""The import rule (ARCHITECTURE.md, "Layers"): each layer imports only the layers below it, and entry points are
imported by nothing. Read from the source with `ast`, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("schemas", "infra", "producers", "processors", "projections", "api")
ENTRY = ("infra.entry", "infra.bench")  # the roof: imports everything, imported by nothing

# what each layer may import (besides itself); the kernel is `infra` minus the entry points
MAY_IMPORT: dict[str, set[str]] = {
    "schemas": set(),
    "infra": {"schemas"},
    "producers": {"schemas", "infra"},
    "processors": {"schemas", "infra"},
    "projections": {"schemas", "infra"},
    "api": {"schemas", "infra", "producers", "projections"},
}


def layer_of(module: str) -> str:
    if module.startswith(ENTRY):
        return "entry"
    return module.split(".")[0]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of our packages in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in (*PACKAGES, "tests")]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def violations() -> list[str]:
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            importer = module_name(path)
            source = layer_of(importer)
            for line, imported in imports_of(path):
                if imported.split(".")[0] == "tests":
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports test code ({imported})")
                    continue
                if not (ROOT / Path(*imported.split("."))).with_suffix(".py").exists() and \
                        not (ROOT / Path(*imported.split("."))).is_dir():
                    continue  # a name imported from a module, not a module: the module was checked already
                target = layer_of(imported)
                if target == "entry" and source != "entry":
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports the entry point {imported}")
                elif source not in ("entry", target) and target not in MAY_IMPORT[source]:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} ({source}) imports {imported} ({target})")
    return wrong


def test_each_layer_imports_only_the_layers_below_it() -> None:
    assert violations() == []


def test_the_check_sees_a_wrong_way_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from processors.app import create_app\nimport api.app\nfrom schemas import topics\n")
    assert [name for _, name in imports_of(sample)] == ["processors.app", "processors.app.create_app", "api.app",
                                                       "schemas", "schemas.topics"]
    assert layer_of("infra.entry.cli") == "entry" and layer_of("infra.settings") == "infra"
