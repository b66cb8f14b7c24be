#!/usr/bin/env bash
# Packs a prebuilt sm_90 tree for a lent GPU machine that lacks GoogleTest, Google Benchmark and
# OpenBLAS: builds the `sm90` preset here, then puts the test, benchmark and driver binaries and
# the non-system, non-CUDA shared libraries they load into .devrun/bundle.tar.xz (ignored by
# git, carried by the device call). On the GPU machine:
#   mkdir -p /tmp/b && tar xJf .devrun/bundle.tar.xz -C /tmp/b &&
#   LD_LIBRARY_PATH=/tmp/b/lib:$LD_LIBRARY_PATH SIGREG_GPU_BUILD=/tmp/b bench/gpu_check.sh
# libcudart/libcublas come from the GPU machine's own CUDA toolkit (same major version). The
# Python package builds there with CMAKE_PREFIX_PATH=/tmp/b/prefix (OpenBLAS headers + link).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset sm90 >/dev/null
cmake --build --preset sm90
find_cblas_header() {  # the cblas.h the build used (CMake cache), else the usual Debian place
  local dir
  dir=$(sed -n 's/^SIGREG_CBLAS_INCLUDE_DIR:PATH=//p' build-sm90/CMakeCache.txt)
  echo "${dir:-/usr/include/x86_64-linux-gnu}/cblas.h"
}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tests" "$stage/bench" "$stage/driver" "$stage/lib"
for f in build-sm90/tests/test_*; do
  [[ -x "$f" && -f "$f" ]] && cp "$f" "$stage/tests/"
done
cp build-sm90/bench/bench_cuda build-sm90/bench/bench_cpu "$stage/bench/"
cp build-sm90/driver/sigreg_toy "$stage/driver/"
strip --strip-unneeded "$stage"/tests/* "$stage"/bench/* "$stage"/driver/*
# Shared libraries outside glibc/libstdc++/libgcc and outside CUDA.
for bin in "$stage"/tests/* "$stage"/bench/* "$stage"/driver/*; do
  ldd "$bin" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -Ev '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so|/cuda' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
# OpenBLAS's headers and a libopenblas.so link: with CMAKE_PREFIX_PATH=<bundle>/prefix the Python
# package (pip install) configures and links there too.
mkdir -p "$stage/prefix/include" "$stage/prefix/lib"
cblas=$(readlink -f "$(find_cblas_header)")
cp -L "$cblas" "$(dirname "$cblas")/openblas_config.h" "$stage/prefix/include/"
ln -s ../../lib/libopenblas.so.0 "$stage/prefix/lib/libopenblas.so"
git rev-parse --short HEAD >"$stage/commit"
git diff --quiet || echo "+dirty" >>"$stage/commit"
mkdir -p .devrun
tar cJf .devrun/bundle.tar.xz -C "$stage" .
ls -la .devrun/bundle.tar.xz
