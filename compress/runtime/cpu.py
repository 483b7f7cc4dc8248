"""What this CPU can run natively: the ISA flags that decide which precisions pay off (AVX-512 VNNI and
AMX for INT8, AVX-512 BF16 and AMX for bf16)."""

from __future__ import annotations

from pathlib import Path

ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> list[str]:
    """The ISA flags of interest that the first CPU in ``/proc/cpuinfo`` reports, in ``ISA_FLAGS`` order."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return [f for f in ISA_FLAGS if f in have]
    return []


def no_native_bf16(cpuinfo: str | None = None) -> str | None:
    """Why bf16 would be emulated (slower than fp32) on this CPU, or None when it has bf16 instructions."""
    if any(f in cpu_flags(cpuinfo) for f in BF16_FLAGS):
        return None
    return "this CPU has no bf16 instructions (AVX-512 BF16 or AMX-BF16); bf16 would be emulated, slower than fp32"
