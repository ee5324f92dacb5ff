"""Every module's `__all__` names things that exist, and lists its public classes/functions."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import memfun_git

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(memfun_git.__path__, prefix="memfun_git.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_existing_public_members(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        return
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
