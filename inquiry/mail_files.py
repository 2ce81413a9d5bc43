"""The file transport's folder: one .eml file per message, named by its Message-ID.

The transport writes them (inquiry.notify.transports); privacy duties read, prune and remove
them (inquiry.privacy). Both go through here, so the folder has one layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

SUFFIX = ".eml"
# What a write in progress is called until it is renamed into place.
PARTIAL_SUFFIX = ".tmp"


def file_name(message_id: str) -> str:
    """The name a message is kept under: its Message-ID without brackets or slashes."""
    return message_id.strip("<>").replace("/", "_") + SUFFIX


def files_of(folder: Path, message_ids: Iterable[str]) -> list[Path]:
    """The files these messages were written to, of those that exist."""
    paths = (folder / file_name(message_id) for message_id in message_ids)
    return [path for path in paths if path.is_file()]


def older_than(folder: Path, cutoff: datetime) -> list[Path]:
    """Mail files (and abandoned partial writes) last written before `cutoff`."""
    if not folder.is_dir():
        return []
    limit = cutoff.timestamp()
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix in (SUFFIX, PARTIAL_SUFFIX)
        and path.is_file()
        and path.stat().st_mtime < limit
    )


def remove(paths: Iterable[Path]) -> int:
    """Delete these files; returns how many were there to delete."""
    removed = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed
