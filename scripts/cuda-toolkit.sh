#!/usr/bin/env bash
# A CUDA 13.2 build toolkit from PyPI wheels, for `cargo build --features cuda,nccl`
# on a machine without a system CUDA install (and without a GPU: building needs none).
#
#   eval "$(scripts/cuda-toolkit.sh)"      # installs once, prints the exports
#   cargo build --features cuda,nccl,mpi
#
# What it installs under $LASTMILE_CUDA_HOME (default ~/.cache/lastmile-cuda):
# nvcc (candle-kernels compiles its .cu files to PTX), the runtime headers, and the
# libraries candle and cudarc link: cudart, cublas, cublasLt, curand, nvrtc, nccl.
# PyPI ships them with versioned names only (libcublas.so.13), and the driver API
# (libcuda.so) ships with the GPU driver, not with a toolkit; so it adds the
# unversioned links and a link-time stub of libcuda.so.1 (the symbols cudarc
# declares, as the toolkit's own lib/stubs does). At run time the real driver's
# libcuda.so.1 is used, and the other libraries are found through LD_LIBRARY_PATH.
#
# The versions match the driver API cudarc 0.19 binds (CUDA 13.2) and its NCCL
# bindings (2.30). GPU architecture: CUDA_COMPUTE_CAP (default 90, H100/H200).
set -euo pipefail
home="${LASTMILE_CUDA_HOME:-$HOME/.cache/lastmile-cuda}"
root="$home/nvidia/cu13"
nccl="$home/nvidia/nccl"
if [ ! -x "$root/bin/nvcc" ] || [ ! -e "$nccl/lib/libnccl.so.2" ] || [ ! -e "$root/lib/libcurand.so.10" ]; then
  echo "installing the CUDA 13.2 wheels into $home (about 1.5 GB)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$home" --upgrade \
    'nvidia-cuda-nvcc==13.2.*' 'nvidia-cuda-crt==13.2.*' 'nvidia-nvvm==13.2.*' 'nvidia-cuda-runtime==13.2.*' \
    'nvidia-cuda-nvrtc==13.2.*' 'nvidia-cuda-cccl==13.2.*' 'nvidia-cublas==13.3.*' 'nvidia-curand==10.4.*' \
    'nvidia-nccl-cu13==2.30.*' >&2
fi
cudarc=$(ls -d "$HOME"/.cargo/registry/src/*/cudarc-0.19.* 2>/dev/null | sort -V | tail -1 || true)
# unversioned names for the linker
for lib in cudart cublas cublasLt curand nvrtc; do
  versioned=$(ls "$root/lib/lib$lib.so."* 2>/dev/null | grep -E "lib$lib\.so\.[0-9]+$" | head -1)
  [ -n "$versioned" ] || { echo "cuda-toolkit.sh: lib$lib.so.* missing under $root/lib" >&2; exit 1; }
  ln -sf "$(basename "$versioned")" "$root/lib/lib$lib.so"
done
ln -sf "$nccl/lib/libnccl.so.2" "$root/lib/libnccl.so"
# the driver API stub: every cu* function cudarc's bindings declare
stub="$root/lib/stubs/libcuda.so"
if [ ! -e "$stub" ]; then
  [ -n "$cudarc" ] || { echo "cuda-toolkit.sh: cudarc's sources are not in ~/.cargo/registry: run \`cargo fetch\` first" >&2; exit 1; }
  mkdir -p "$root/lib/stubs"
  grep -ohE '^\s+fn cu[A-Za-z0-9_]+\(' "$cudarc/src/driver/sys/mod.rs" | sed -E 's/^\s+fn ([A-Za-z0-9_]+)\(/\1/' | sort -u \
    | awk '{ printf "int %s(void) { return 999; }\n", $1 }' > "$root/lib/stubs/libcuda-stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub" "$root/lib/stubs/libcuda-stub.c"
fi
cat <<EOF
export CUDA_ROOT="$root"
export PATH="$root/bin:\$PATH"
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-90}"
export LD_LIBRARY_PATH="$root/lib:$nccl/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
