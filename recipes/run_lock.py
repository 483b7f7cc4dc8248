"""One writer per output directory: an OS file lock, released by the kernel when its process ends.

Two ``mtkd run`` into one directory used to race on the same ``<stage>.incomplete/`` folders and
die with a traceback. The lock is ``fcntl.flock`` on a lock file: a killed writer never leaves a
stale lock, and the file names the process that holds it. ``mtkd run`` and ``ablate`` lock
``<run>/.mtkd.lock``, ``bench --out DIR`` locks ``DIR/.mtkd.lock``, and ``export --out DIR`` (which
must find DIR empty) locks ``.DIR.mtkd.lock`` beside it. Readers (metrics, report, evaluate) take no lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distill.errors import MtkdError

LOCK_FILE = ".mtkd.lock"


class RunLocked(MtkdError):
    """Another process is writing the directory."""


@contextmanager
def writer_lock(lock_path: Path, target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` while writing ``target``, or raise ``RunLocked`` naming the holder."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunLocked(
            f"{target} is being written by {holder}; wait for it to finish or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} (mtkd {' '.join(sys.argv[1:3])})\n".encode(), 0)
    try:
        yield
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the directory's writer lock (``<dir>/.mtkd.lock``) for the block; a first run that wrote nothing
    leaves no folder behind."""
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    try:
        with writer_lock(path, run_dir):
            yield
    finally:
        if created and run_dir.is_dir() and sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILE]:
            path.unlink()
            run_dir.rmdir()


@contextmanager
def new_directory_lock(out: Path) -> Iterator[None]:
    """The writer lock of a directory a command creates whole (``export --out``): beside it, not in it, so
    the directory itself can be required empty; the lock file goes when the writer is done."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f".{out.name}{LOCK_FILE}"
    with writer_lock(path, out):
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
