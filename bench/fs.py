"""Files written so that a crash or a kill never leaves a file that reads as valid, and hashes of files
and configurations.

Everything that other processes read (result.json, checkpoints, leaderboards, caches) is written to a
temporary file in the same folder, flushed, and renamed over the target: readers see the old file or
the new one, never half of one. Every temp file is named after its writer
(`.<name>.<host>.<pid>.<8 hex>.tmp`), so `clean_temp_files` can tell a dead writer's leftovers.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


# .<target name>.<host>.<pid>.<8 hex>.tmp: the writer, so a later process can tell a dead writer's file.
_TEMP = re.compile(r"\A\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp\Z")
_OLD_TEMP = re.compile(r"\A\..+\.[a-z0-9_]{8}\.tmp\Z")  # tempfile.mkstemp's, of earlier versions


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call write(file) on a temp file beside `path`, fsync it, then rename it over `path`.

    The file gets the umask's permissions, like any file the user writes (mkstemp would make it 0600
    and the rename would keep that): it is created with mode 0o666 and the kernel applies the umask,
    so the umask is never read or changed here (changing it would race with other threads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.parent / f".{path.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def clean_temp_files(folder: Path, max_age_s: float = 3600.0) -> list[Path]:
    """Remove the temp files that writers killed mid-write left in `folder` (not its subfolders); the
    removed paths. A temp file goes when its writer ran on this host and is dead, or (a writer on
    another host, or a name without a writer) when it is older than `max_age_s`. Call it when a cell
    starts: the cell's lock means no live writer of that folder is left by then."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now, host = time.time(), _host()
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m and not _OLD_TEMP.match(entry.name):
            continue
        try:
            if not entry.is_file() or entry.is_symlink():
                continue
            if m and m["host"] == host and int(m["pid"]) != os.getpid():
                stale = not _pid_alive(int(m["pid"]))
            else:
                stale = False
            stale = stale or now - entry.stat().st_mtime > max_age_s
            if stale:
                entry.unlink()
                removed.append(entry)
        except FileNotFoundError:  # its writer renamed it meanwhile
            continue
    return removed


_FIXES = {
    errno.ENOSPC: "no space left on the device; free some space there (or give another --out) and run again",
    errno.EDQUOT: "the disk quota is used up; free some space there (or give another --out) and run again",
    errno.EROFS: "the file system is read-only; give a writable --out (or remount it) and run again",
    errno.EACCES: "permission denied; make it writable for this user (or give another --out) and run again",
    errno.EPERM: "operation not permitted; make it writable for this user (or give another --out)",
}


def os_error_line(err: OSError) -> str | None:
    """One line for the errors of a full or unwritable disk, naming the path and what to do; None for
    other OS errors (a bug, or a case handled where it happens). Nothing already written is lost: every
    file is written through atomic_write, so a failed write leaves the old file."""
    fix = _FIXES.get(err.errno) if err.errno is not None else None
    if fix is None:
        return None
    where = err.filename if err.filename is not None else "a file bench writes"
    return f"{where}: {fix}"


def find_link(folder: Path, depth: int = 1) -> Path | None:
    """The first symbolic link at `folder` itself or among its entries, `depth` folders down; None when
    there is none. Writers check a folder with it before writing there: a link would carry their
    files (a log appended to, a checkpoint) to wherever it points, outside the folder the user named."""
    if folder.is_symlink():
        return folder
    try:
        entries = sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return None
    for entry in entries:
        if entry.is_symlink():
            return entry
        if depth > 0 and entry.is_dir() and (found := find_link(entry, depth - 1)) is not None:
            return found
    return None


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new folder `<prefix><host>.<pid>.<8 hex>` in `parent`, with the umask's permissions (mkdtemp
    makes 0700 whatever the umask), named after its writer so that clean_temp_dirs can tell a dead
    writer's folder."""
    while True:
        path = parent / f"{prefix}{_host()}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o777)  # the kernel applies the umask
            return path
        except FileExistsError:
            continue


def clean_temp_dirs(parent: Path, prefix: str, max_age_s: float = 3600.0) -> list[Path]:
    """Remove the folders make_temp_dir(parent, prefix) made for writers killed before they finished:
    a writer on this host that is dead, or (another host, or a name of older code) older than
    `max_age_s`. The removed paths."""
    import shutil

    mine = re.compile(re.escape(prefix) + r"(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\Z")
    removed: list[Path] = []
    try:
        entries = [p for p in parent.iterdir() if p.name.startswith(prefix)]
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now, host = time.time(), _host()
    for entry in entries:
        try:
            if entry.is_symlink() or not entry.is_dir():
                continue
            m = mine.match(entry.name)
            dead = bool(m and m["host"] == host and not _pid_alive(int(m["pid"])))
            if dead or now - entry.stat().st_mtime > max_age_s:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        except FileNotFoundError:
            continue
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it is missing or not valid JSON (never half-written, see above)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks (weights, archives, datasets)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text, so equal hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def short_hash(obj: Any, length: int = 8) -> str:
    """The first `length` hex digits of the SHA-256 of obj's canonical JSON: cell ids, fingerprints."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]
