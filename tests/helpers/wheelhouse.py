"""A folder of wheels rebuilt from the packages installed in this environment.

It lets a test install memfun the way a user does (`uv tool install .`) with no network: uv is
pointed at the folder (`UV_FIND_LINKS`, `UV_NO_INDEX`) and finds exactly the versions uv.lock
pins, because those are the ones installed here. A wheel is a zip of the installed files and
their `.dist-info` with a fresh RECORD; console scripts are left out (remade from
`entry_points.txt` on install), other programs installed into bin/ (ruff's binary) go back
into the wheel's `.data/scripts`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["build_wheelhouse", "locked_closure"]

# What an installer adds to .dist-info; a wheel does not carry it.
_INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_closure(lock: Path, roots: Iterable[str]) -> set[str]:
    """The names of `roots` and of everything they need, extras included, as uv.lock says."""
    packages = {_normalise(p["name"]): p for p in tomllib.loads(lock.read_text())["package"]}
    names: set[str] = set()
    extras_done: set[tuple[str, str]] = set()
    stack: list[dict[str, Any]] = [{"name": root} for root in roots]
    while stack:
        dependency = stack.pop()
        name = _normalise(dependency["name"])
        package = packages.get(name)
        if package is None:
            continue
        if name not in names:
            names.add(name)
            stack.extend(package.get("dependencies", []))
        for extra in dependency.get("extra", []):
            if (name, extra) not in extras_done:
                extras_done.add((name, extra))
                stack.extend(package.get("optional-dependencies", {}).get(extra, []))
    return names


def build_wheelhouse(folder: Path, names: set[str]) -> list[Path]:
    """Rebuild a wheel for each installed distribution named in `names`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _repack(dist, folder)
        for dist in importlib.metadata.distributions()
        if _normalise(dist.metadata["Name"]) in names
    ]


def _entry_point_scripts(dist: importlib.metadata.Distribution) -> set[str]:
    """The console scripts the installer remakes from entry_points.txt."""
    return {ep.name for ep in dist.entry_points if ep.group in ("console_scripts", "gui_scripts")}


def _repack(dist: importlib.metadata.Distribution, folder: Path) -> Path:
    files = list(dist.files or [])
    info = next(f for f in files if f.name == "METADATA" and f.parent.name.endswith(".dist-info"))
    wheel_text = dist.read_text("WHEEL") or ""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")
    ]
    parts = [tag.split("-") for tag in tags] or [["py3", "none", "any"]]
    # The compressed tag set of the file name (PEP 425): py2.py3-none-any.
    tag = "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    target = folder / f"{name}-{dist.version}-{tag}.whl"
    record: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as wheel:
        scripts = _entry_point_scripts(dist)
        for file in files:
            path = file.as_posix()
            if path.endswith(".pyc"):
                continue
            if path.startswith(".."):
                # A file installed into bin/ that no entry point makes (ruff's binary) goes
                # back into the wheel's .data/scripts, where installers take it from.
                if file.parent.name != "bin" or file.name in scripts:
                    continue
                path = f"{name}-{dist.version}.data/scripts/{file.name}"
            if file.parent == info.parent and file.name in _INSTALLER_FILES:
                continue
            data = Path(str(file.locate())).read_bytes()
            if "/scripts/" in path:
                entry = zipfile.ZipInfo(path)
                entry.external_attr = 0o755 << 16
                wheel.writestr(entry, data)
            else:
                wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{info.parent.as_posix()}/RECORD,,")
        wheel.writestr(f"{info.parent.as_posix()}/RECORD", "\n".join(record) + "\n")
    return target
