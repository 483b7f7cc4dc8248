"""The reliability matrix's rows for writes that do not finish: an export killed while it writes its bundle,
and a disk that fills up while a stage writes.

Handled means: nothing half-written is ever taken as finished (the bundle folder does not exist until it is
whole; a stage that could not finish leaves the previous one in place, verified by its checksums), the
failure is one line that says what happened, and the same command afterwards ends as if nothing had
happened (a re-run export removes what the killed one left and writes the same files).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from compress.bundle.manifest import BundleManifest
from distill.errors import ArtifactError
from distill.io import verify_checksums
from recipes.stage_record import StageRecord

from .matrix import Outcome, mtkd_process

ARTIFACT = "student-dynamic-int8"
SAME_FILES_EXCEPT = ("README.md", "bundle.json")  # the card and the manifest carry the export's date


def _export(run: Path, out: Path) -> subprocess.Popen:
    return mtkd_process(["export", str(run), "--artifact", ARTIFACT, "--out", str(out)])


def _half_written(out: Path) -> Path | None:
    """The temporary folder the bundle is being written into, once its model file is there."""
    for folder in out.parent.glob(f".{out.name}.*"):
        if folder.is_dir() and any(folder.glob("model.*")):
            return folder
    return None


def _bundle_files(bundle: Path) -> dict[str, str]:
    files = BundleManifest.read(bundle).files
    return {name: digest for name, digest in files.items() if name not in SAME_FILES_EXCEPT}


def _kill_mid_write(run: Path, out: Path, timeout: float) -> str | None:
    """Start an export into ``out`` and SIGKILL it once its bundle is half-written: the temporary folder's name,
    or None when the kill came too late (the export had finished or published)."""
    shutil.rmtree(out, ignore_errors=True)
    victim, deadline, half = _export(run, out), time.time() + timeout, None
    while victim.poll() is None and time.time() < deadline and half is None:
        half = _half_written(out)
        time.sleep(0.0005)  # the write lasts about 10 ms here
    victim.kill()
    victim.wait()
    return half.name if half is not None and not out.exists() else None


def killed_export(run: Path, root: Path, attempts: int = 6, timeout: float = 300) -> Outcome:
    """SIGKILL ``mtkd export`` while its bundle is half-written, then export again into the same ``--out``."""
    folder = root / "faults" / "export"
    reference = _export(run, folder / "reference")
    if reference.wait(timeout) != 0:
        return Outcome("fault", "export", False, f"uninterrupted export failed: {reference.stdout.read()[-300:]}")
    out, half, tries = folder / "bundle", None, 0
    while half is None and tries < attempts:  # the write takes milliseconds: try again if the kill came too late
        half, tries = _kill_mid_write(run, out, timeout), tries + 1
    if half is None:
        return Outcome("fault", "export", False, f"no kill landed inside the bundle's write in {attempts} tries")
    again = _export(run, out)
    log = again.communicate(timeout=timeout)[0]
    leftovers = [p.name for p in out.parent.glob(f".{out.name}.*") if p.is_dir()]
    said = "left unfinished" in log and half in log
    same = again.returncode == 0 and _bundle_files(out) == _bundle_files(folder / "reference")
    ok = same and said and not leftovers
    detail = (
        f"killed (try {tries}) with {half} half-written and no {out.name}/ published; the re-run removed it "
        "(and said so) and wrote the same files as an uninterrupted export"
        if ok
        else f"re-run: exit {again.returncode}, same files {same}, said {said}, leftovers {leftovers}: {log[-300:]!r}"
    )
    return Outcome("fault", "export", ok, detail)


def _mount_tmpfs(where: Path, size_kib: int) -> str | None:
    """Mount a tmpfs of ``size_kib`` at ``where``; the reason when this machine does not allow it."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)], capture_output=True, text=True
    )
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")


def _stage_intact(stage: Path) -> bool:
    try:
        verify_checksums(stage, StageRecord.read(stage).files)
    except (ArtifactError, OSError, KeyError):
        return False
    return True


def full_disk(run: Path, root: Path, timeout: float = 300) -> Outcome:
    """A finished run on a real, nearly full file system (a small tmpfs); its quantize stage re-run with other
    settings runs out of space: one line naming ENOSPC, exit 2, the previous quantize stage intact. With room
    made, the same command finishes."""
    mount = root / "disk" / "tmpfs"
    used_kib = sum(-(-p.stat().st_size // 4096) * 4 if p.is_file() else 4 for p in run.rglob("*"))  # whole pages
    reason = _mount_tmpfs(mount, used_kib + 128)  # room for the copy and a little: not for new graphs
    if reason:
        return Outcome("not run", "disk full mid-stage", True, f"cannot mount a small tmpfs here: {reason}")
    try:
        copy = mount / "run"
        shutil.copytree(run, copy)
        recipe = str(copy / "recipe.yaml")
        again = ["run", recipe, "--out", str(copy), "--set", "quantize.calibration.samples=16"]
        full = mtkd_process(again)
        log = full.communicate(timeout=timeout)[0]
        lines = [line for line in log.splitlines() if "ENOSPC" in line]
        refused = full.returncode == 2 and lines and "Traceback" not in log
        intact = _stage_intact(copy / "quantize") and not (copy / "quantize.incomplete").exists()
        subprocess.run(["mount", "-o", f"remount,size={used_kib * 4 + 4096}k", str(mount)], check=True)
        rerun = mtkd_process(again)
        rerun_log = rerun.communicate(timeout=timeout)[0]
        finished = rerun.returncode == 0 and _stage_intact(copy / "quantize")
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    ok = bool(refused and intact and finished)
    detail = (
        f"exit 2 with one line ({lines[0].strip()!r}), the previous quantize stage intact and verified; "
        "with room made the same command finished"
        if ok
        else f"exit {full.returncode}, ENOSPC lines {len(lines)}, intact {intact}, finished {finished}: "
        f"{(log + rerun_log)[-400:]!r}"
    )
    return Outcome("disk", "disk full mid-stage", ok, detail)
