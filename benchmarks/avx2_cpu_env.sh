#!/usr/bin/env bash
# Run a command as if on an AVX2-only x86 CPU (an AMD EPYC of the Zen 2/3 kind, the
# "other machine" of issue 23), on a CPU that has AVX-512: every library whose SIMD dispatch
# reads an environment variable is told to stop at AVX2. A same-machine stand-in for a second
# machine; what it cannot switch (onnxruntime's and TFLite's kernels, FFmpeg) stays native.
#
#   bash benchmarks/avx2_cpu_env.sh bash benchmarks/fresh_clone_repro.sh ../tqa-avx2-clone
set -u
avx512="AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"
export NPY_DISABLE_CPU_FEATURES="$avx512"                     # numpy's dispatched loops
export OPENCV_CPU_DISABLE="AVX512-SKX"                       # OpenCV's dispatched kernels
export OPENBLAS_CORETYPE=Zen                                 # numpy/scipy BLAS kernels
export MKL_ENABLE_INSTRUCTIONS=AVX2                          # torch's MKL
export ATEN_CPU_CAPABILITY=avx2                              # torch's own vectorised kernels
export ONEDNN_MAX_CPU_ISA=AVX2                               # torch's oneDNN
exec "$@"
