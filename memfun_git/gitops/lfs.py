"""Git LFS in a worktree: libgit2 runs no LFS filters, so memfun checks pointers itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygit2

__all__ = ["is_lfs", "lfs_unchanged"]

_LFS_SPEC = b"version https://git-lfs.github.com/spec/v1\n"


def is_lfs(repo: pygit2.Repository, rel: str) -> bool:
    """True when `.gitattributes` routes `rel` through the Git LFS filter.

    The path goes to libgit2 as bytes: a name that is not UTF-8 would not encode as text."""
    return repo.get_attr(os.fsencode(rel), "filter") == "lfs"


def lfs_unchanged(repo: pygit2.Repository, rel: str) -> bool:
    """True when `rel` holds exactly the content its Git LFS pointer in the index names.

    libgit2 runs no LFS clean filter: it compares a smudged file's content with the pointer
    blob and reports the file as modified when its stat data cannot vouch for it.
    """
    import hashlib

    import pygit2

    if not is_lfs(repo, rel):
        return False
    full = Path(repo.workdir) / rel
    try:
        blob = repo.get(repo.index[rel].id)
    except (KeyError, ValueError, UnicodeError):
        return False
    if not isinstance(blob, pygit2.Blob) or full.is_symlink() or not full.is_file():
        return False
    pointer = blob.data
    if not pointer.startswith(_LFS_SPEC):
        return False
    if f"\nsize {full.stat().st_size}\n".encode() not in pointer:
        return False  # not the size the pointer names: no need to read (maybe a huge) file
    digest = hashlib.sha256()
    size = 0
    with full.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return pointer == _LFS_SPEC + f"oid sha256:{digest.hexdigest()}\nsize {size}\n".encode()
