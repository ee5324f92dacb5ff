"""Every module declares `__all__`, naming things that exist and every public class and
function it defines; no module imports a library's private modules."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import memfun_git

# __main__ runs the CLI when imported; its source is checked for imports below all the same.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(memfun_git.__path__, prefix="memfun_git.")
    if not info.name.endswith("__main__")
)
_PACKAGE = Path(memfun_git.__file__).parent
# The demo's sample project is data memfun copies, not a module of memfun.
SOURCES = sorted(
    p for p in _PACKAGE.rglob("*.py") if not p.is_relative_to(_PACKAGE / "demo" / "sample")
)


def test_every_module_is_checked() -> None:
    root = Path(memfun_git.__file__).parent.parent
    named = {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for p in SOURCES
    }
    assert named - {"memfun_git.__main__"} == {"memfun_git", *MODULES}


@pytest.mark.parametrize("name", ["memfun_git", *MODULES])
def test_all_lists_existing_public_members(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} declares no __all__"
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == []
    defined_here = {
        item
        for item, value in vars(module).items()
        if not item.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == name
    }
    assert defined_here - set(exported) == set(), "public names missing from __all__"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_private_module_of_a_library_is_imported(path: Path) -> None:
    """A library's `_private` modules change without notice (typer vendors click as
    `typer._click`); only its public names are used."""
    imported: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.append(node.module)
    private = [
        name
        for name in imported
        if not name.startswith("memfun_git")
        and any(part.startswith("_") and not part.startswith("__") for part in name.split("."))
    ]
    assert private == []
