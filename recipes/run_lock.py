"""One writer per run directory: an OS file lock, released by the kernel when its process ends.

Two ``mtkd run`` into one directory used to race on the same ``<stage>.incomplete/`` folders and
die with a traceback. The lock is ``fcntl.flock`` on ``<run>/.mtkd.lock``: a killed writer never
leaves a stale lock, and the file names the process that holds it. Readers (metrics, report,
evaluate) take no lock.
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
    """Another process is writing the run directory."""


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's writer lock for the block, or raise ``RunLocked`` naming the holder."""
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunLocked(
            f"{run_dir} is being written by {holder}; wait for it to finish or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} (mtkd {' '.join(sys.argv[1:3])})\n".encode(), 0)
    try:
        yield
    finally:
        os.ftruncate(fd, 0)
        if created and sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILE]:
            path.unlink()  # a first run that wrote nothing leaves no folder behind
            run_dir.rmdir()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
