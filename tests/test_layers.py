"""Packages depend one way: every import under idp/ goes to its own package or to a lower layer.

The layers are docs/architecture.md's table, lowest first. A module may import its own package
and anything in a lower layer; never a package of its own layer or of a higher one. Imports are
read with `ast`, at any depth (inside functions too), so a lazy import cannot hide an edge. A new
package must be placed in the table before its first test can pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from idp.config import PROJECT_ROOT

LAYERS: list[set[str]] = [
    {"errors", "text"},
    {"clock", "smtp_url", "caches"},
    {"config"},
    {"crypto", "db", "logs", "metrics"},
    {"unit_of_work", "readiness"},
    {"background", "web", "invalidation"},
    {"tenancy"},
    {"audit", "signing", "mail"},
    {"accounts"},
    {"sessions", "business", "throttling"},
    {"oauth"},
    {"federation"},
    {"recovery"},
    {"login"},
    {"mfa", "policies"},
    {"families"},
    {"api", "provisioning", "operations"},
    {"app", "models"},
    {"schema", "server"},
    {"cli"},
]
LAYER_OF = {package: number for number, layer in enumerate(LAYERS) for package in layer}


def package_of(module: str) -> str | None:
    """`idp.oauth.views` → "oauth"; `idp.db` → "db"; anything outside idp → None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "idp" and len(parts) > 1 else None


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`, relative ones resolved against `module`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from idp import clock` imports the module idp.clock
            if target == "idp":
                found += [(node.lineno, f"idp.{alias.name}") for alias in node.names]
    return found


def violations(source: str, module: str, where: str) -> list[str]:
    """The imports of one module that go against the layers, as readable lines."""
    own = package_of(module)
    if own is None:
        return []
    if own not in LAYER_OF:
        return [f"{where}: package '{own}' is in no layer: place it in tests/test_layers.py and docs/architecture.md"]
    found = []
    for line, target in imported_modules(source, module):
        other = package_of(target)
        if other is None or other == own:
            continue
        if other not in LAYER_OF:
            found.append(f"{where}:{line}: imports '{target}', whose package is in no layer")
        elif LAYER_OF[other] >= LAYER_OF[own]:
            found.append(f"{where}:{line}: {own} (layer {LAYER_OF[own]}) imports {target} "
                         f"({other}, layer {LAYER_OF[other]}): only lower layers may be imported")
    return found


def test_every_import_under_idp_follows_the_layers() -> None:
    root = PROJECT_ROOT / "idp"
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        found += violations(path.read_text(encoding="utf-8"), module_name(path, root),
                            str(path.relative_to(PROJECT_ROOT)))
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_every_package_under_idp_has_a_layer() -> None:
    root = PROJECT_ROOT / "idp"
    packages = {path.parent.name for path in root.glob("*/__init__.py")} | {
        path.stem for path in root.glob("*.py") if path.stem != "__init__"}
    assert packages - set(LAYER_OF) == set(), "place these in LAYERS and in docs/architecture.md"


def test_the_layers_table_is_the_one_in_the_architecture_document() -> None:
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for number, layer in enumerate(LAYERS):
        for package in layer:
            assert f"`{package}`" in text, f"docs/architecture.md does not place `{package}` (layer {number})"


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("idp.db", "from idp.oauth.grants import spend_code\n", "db (layer 3) imports idp.oauth.grants"),
    ("idp.accounts.links", "def f():\n    from idp.login import pipeline\n", "accounts (layer 8) imports idp.login"),
    ("idp.oauth.views", "from idp import login\n", "oauth (layer 10) imports idp.login"),
    ("idp.signing.service", "from idp.mail import outbox\n", "signing (layer 7) imports idp.mail (mail, layer 7)"),
    ("idp.oauth.server", "from ..login import pipeline\n", "oauth (layer 10) imports idp.login (login, layer 13)"),
    ("idp.waitlists.views", "import flask\n", "package 'waitlists' is in no layer"),
])
def test_a_forbidden_import_is_reported_with_its_place(module: str, source: str, expected: str) -> None:
    found = violations(source, module, "idp/x.py")
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(("module", "source"), [
    ("idp.oauth.views", "from idp.accounts.service import get_user\nfrom idp.oauth import grants\n"),
    ("idp.login.views", "from idp.oauth.logout import sign_out\nimport json\n"),
    ("idp.db", "from sqlalchemy import select\nfrom . import clock\n"),
])
def test_imports_that_follow_the_layers_pass(module: str, source: str) -> None:
    assert violations(source, module, "idp/x.py") == []
