"""bin/tqa-py pins SIMD dispatch to AVX2 on AVX-512 CPUs (issue 23), from a cpuinfo fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PINS = (
    "NPY_DISABLE_CPU_FEATURES",
    "OPENCV_CPU_DISABLE",
    "OPENBLAS_CORETYPE",
    "MKL_ENABLE_INSTRUCTIONS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_CBWR",
)

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="bin/tqa-py is a POSIX shell script"
)


def _cpuinfo(tmp_path: Path, vendor: str, flags: str) -> Path:
    """A two-core /proc/cpuinfo: the script must read the first ``flags`` line only."""
    block = f"processor\t: {{}}\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n\n"
    path = tmp_path / "cpuinfo"
    path.write_text(block.format(0) + block.format(1), encoding="utf-8")
    return path


def _env_seen(cpuinfo: Path | None, **extra: str) -> dict[str, str | None]:
    """The pin variables as the Python that bin/tqa-py starts sees them."""
    env = {k: v for k, v in os.environ.items() if k not in PINS and k != "TQA_NATIVE_SIMD"}
    env["TQA_PYTHON"] = sys.executable
    env["TQA_CPUINFO"] = str(cpuinfo) if cpuinfo else "/nonexistent/cpuinfo"
    env.update(extra)
    code = f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {PINS!r}}}))"
    out = subprocess.run([str(ROOT / "bin" / "tqa-py"), "-c", code], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)


AVX2 = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma"
AVX512 = AVX2 + " avx512f avx512dq avx512cd avx512bw avx512vl"


def test_avx512_amd_is_pinned_to_avx2(tmp_path):
    seen = _env_seen(_cpuinfo(tmp_path, "AuthenticAMD", AVX512))
    assert seen["ATEN_CPU_CAPABILITY"] == "avx2"
    assert seen["ONEDNN_MAX_CPU_ISA"] == seen["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    assert seen["MKL_CBWR"] == "AVX2"
    assert seen["OPENBLAS_CORETYPE"] == "Zen"  # what OpenBLAS picks on an AVX2-only EPYC
    assert seen["OPENCV_CPU_DISABLE"] == "AVX512-SKX"
    assert "AVX512F" in seen["NPY_DISABLE_CPU_FEATURES"].split()
    assert "AVX512_SPR" not in seen["NPY_DISABLE_CPU_FEATURES"].split()  # not on this CPU


def test_avx512_intel_gets_haswell_blas_and_spr_off(tmp_path):
    seen = _env_seen(_cpuinfo(tmp_path, "GenuineIntel", AVX512 + " avx512_fp16"))
    assert seen["OPENBLAS_CORETYPE"] == "Haswell"
    assert "AVX512_SPR" in seen["NPY_DISABLE_CPU_FEATURES"].split()


def test_avx2_only_cpu_keeps_its_own_dispatch(tmp_path):
    # avx512 flags that are not avx512f (e.g. avx512_vnni) must not trip the match either
    seen = _env_seen(_cpuinfo(tmp_path, "AuthenticAMD", AVX2 + " avx_vnni"))
    assert seen["MKL_CBWR"] == "AVX2"
    assert all(seen[k] is None for k in PINS if k != "MKL_CBWR"), seen


@pytest.mark.parametrize("flags", ["fpu sse sse2 avx", "fp asimd evtstrm aes pmull"])
def test_no_avx2_or_not_x86_sets_nothing(tmp_path, flags):
    seen = _env_seen(_cpuinfo(tmp_path, "ARM", flags))
    assert all(v is None for v in seen.values()), seen


def test_no_cpuinfo_sets_nothing():
    assert all(v is None for v in _env_seen(None).values())


def test_user_values_win_and_native_switch(tmp_path):
    info = _cpuinfo(tmp_path, "AuthenticAMD", AVX512)
    seen = _env_seen(info, ATEN_CPU_CAPABILITY="default", NPY_DISABLE_CPU_FEATURES="")
    assert seen["ATEN_CPU_CAPABILITY"] == "default"
    assert seen["NPY_DISABLE_CPU_FEATURES"] == ""  # set but empty: still the user's choice
    assert seen["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert all(v is None for v in _env_seen(info, TQA_NATIVE_SIMD="1").values())


def test_pins_reach_the_libraries():
    """On this machine: torch runs at most AVX2 kernels under bin/tqa-py (any x86 CPU with
    AVX-512 is pinned; elsewhere the native capability is already at most AVX2)."""
    pytest.importorskip("torch")
    env = {k: v for k, v in os.environ.items() if k not in PINS and k != "TQA_NATIVE_SIMD"}
    env["TQA_PYTHON"] = sys.executable
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    out = subprocess.run([str(ROOT / "bin" / "tqa-py"), "-c", code], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert "AVX512" not in out.stdout.upper(), out.stdout
