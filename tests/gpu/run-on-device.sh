#!/usr/bin/env bash
# The CUDA backend's checks on a lent GPU machine, as one prepared script
# (docs/gpu.md has the whole recipe).
#
#   tests/gpu/run-on-device.sh prepare [BUILD]   on the build machine: builds
#       everything, then packs the parity tests, bench_gpu, liblab.so,
#       liblab_cuda.so and every non-system library they load (OpenBLAS,
#       iniparser, Criterion and its dependencies, gfortran, gomp, ...) into
#       .device/bundle.tar.xz (git-ignored). CUDA's own libraries are not
#       packed (cuBLAS alone is ~0.5 GB): the GPU machine's CUDA 13 install
#       provides them.
#   tests/gpu/run-on-device.sh [run]             on the GPU machine, from the
#       repository root, with .device carried: unpacks to /tmp/labdev, runs
#       every parity test and make bench-gpu's script, and writes
#       nvidia-smi.txt, parity.log, bench.log, gpu.json and summary.txt to
#       $OUT (or .device/out). Takes 3-5 minutes on an H200; bounded by
#       LAB_GPU_BUDGET seconds (default 420: a test binary that hangs is
#       killed and the rest still run, leaving a 15-minute lease room to
#       rerun), 90 of them kept for the benchmark.
#   tests/gpu/run-on-device.sh memcheck          the parity tests under
#       compute-sanitizer memcheck with LAB_CUDA_DEBUG=1 (every launch
#       checked and synchronised): out-of-bounds accesses in the kernels.
#       Slower; run it when run's parity tests fail or after kernel changes.
#       Bounded by LAB_GPU_BUDGET seconds too.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-run}
budget=${LAB_GPU_BUDGET:-420}

# Libraries every Linux with a CUDA driver has (glibc, the C++ runtime) or
# that must come from the GPU machine's CUDA install.
system_lib() {
  case "$(basename "$1")" in
  libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | libresolv.so* | ld-linux* | libstdc++.so* | \
    libgcc_s.so* | libcuda.so* | libcudart.so* | libcublas.so* | libcublasLt.so* | libcusparse.so* | \
    libnvJitLink.so* | linux-vdso*) return 0 ;;
  esac
  return 1
}

prepare() {
  local build=${1:-build}
  cd "$root" || exit 1
  local tests bins
  tests=$(ls tests/parity/test_parity_*.c | sed "s|^tests/|$build/tests/|; s|\.c$||")
  echo "prepare: building (make BUILD=$build all, parity tests, bench_gpu)"
  make --no-print-directory BUILD="$build" all $tests "$build/bench/bench_gpu" >/dev/null || {
    echo "prepare: the build failed" >&2
    exit 1
  }
  [ -f "$build/lib/liblab_cuda.so" ] || {
    echo "prepare: $build/lib/liblab_cuda.so was not built (is nvcc on PATH?)" >&2
    exit 1
  }
  local stage=.device/stage
  rm -rf .device/stage .device/bundle.tar.xz
  mkdir -p "$stage/lib" "$stage/tests/parity" "$stage/bench"
  cp $tests "$stage/tests/parity/"
  cp "$build/bench/bench_gpu" "$stage/bench/"
  cp "$build/lib/liblab.so" "$build/lib/liblab_cuda.so" "$stage/lib/"
  bins="$stage/lib/liblab.so $stage/lib/liblab_cuda.so $stage/bench/bench_gpu $stage/tests/parity/*"
  # shellcheck disable=SC2086
  ldd $bins 2>/dev/null | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    system_lib "$lib" || cp -L "$lib" "$stage/lib/"
  done
  strip --strip-unneeded "$stage"/lib/* "$stage"/bench/* "$stage"/tests/parity/* 2>/dev/null
  # python3 without our LD_LIBRARY_PATH, so PyTorch loads its own libraries.
  printf '#!/bin/sh\nexec env -u LD_LIBRARY_PATH python3 "$@"\n' >"$stage/py"
  chmod +x "$stage/py"
  tar -C "$stage" -cJf .device/bundle.tar.xz .
  rm -rf "$stage"
  echo "prepare: .device/bundle.tar.xz ($(du -h .device/bundle.tar.xz | cut -f1)); libraries packed:"
  tar -tJf .device/bundle.tar.xz ./lib | sed 's|^\./lib/||' | grep . | tr '\n' ' '
  echo
  echo "prepare: now, on the GPU machine: tests/gpu/run-on-device.sh   (carry .device)"
}

# Directories holding CUDA 13's cuBLAS/cuSPARSE on this machine.
cuda_lib_dirs() {
  local d dirs=""
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 \
    /usr/local/cuda-13*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublas.so.13" ] && dirs="$dirs:$d"
  done
  # pip's nvidia-* wheels (PyTorch's cu13 build) as a fallback.
  local py l f
  py=$(env -u LD_LIBRARY_PATH python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
  for d in $py; do
    for l in "$d"/nvidia/*/lib "$d"/nvidia/cu13/lib; do
      # Any of them: older wheels keep each library in its own nvidia/<pkg>/lib.
      for f in "$l"/lib{cublas,cusparse,cudart,nvJitLink}*.so*; do
        [ -e "$f" ] && { dirs="$dirs:$l"; break; }
      done
    done
  done
  echo "${dirs#:}"
}

unpack() {
  cd "$root" || exit 1
  [ -f .device/bundle.tar.xz ] || {
    echo "run: .device/bundle.tar.xz is missing: run 'tests/gpu/run-on-device.sh prepare' on the build machine and carry .device" >&2
    exit 1
  }
  work=/tmp/labdev
  rm -rf "$work" && mkdir -p "$work" && tar -C "$work" -xJf .device/bundle.tar.xz || exit 1
  out=${OUT:-$root/.device/out}
  mkdir -p "$out"
  local cdirs
  cdirs=$(cuda_lib_dirs)
  export LD_LIBRARY_PATH="$work/lib${cdirs:+:$cdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  {
    echo "CUDA library dirs: ${cdirs:-none found}"
    nvidia-smi 2>&1 || echo "nvidia-smi failed"
    echo "--- ldd liblab_cuda.so"
    ldd "$work/lib/liblab_cuda.so"
  } >"$out/nvidia-smi.txt"
  if grep -q "not found" "$out/nvidia-smi.txt"; then
    echo "run: libraries not found (see nvidia-smi.txt):"
    grep "not found" "$out/nvidia-smi.txt"
  fi
}

# Runs each parity binary (optionally under a wrapper) until `deadline`
# (SECONDS), at most 150 s each; counts from Criterion's verbose lines.
parity() {
  local wrap=$1 log=$2 deadline=$3 t rc left pass=0 fail=0 skip=0
  : >"$log"
  for t in "$work"/tests/parity/test_parity_*; do
    echo "=== $(basename "$t")" >>"$log"
    left=$((deadline - SECONDS))
    if [ $left -lt 10 ]; then
      echo "not run: the time budget (LAB_GPU_BUDGET=$budget s) is spent" >>"$log"
      fail=$((fail + 1))
      continue
    fi
    [ $left -gt 150 ] && left=150
    # shellcheck disable=SC2086
    timeout $left $wrap "$t" --jobs 1 --short-filename --verbose >>"$log" 2>&1
    rc=$?
    [ $rc -ne 0 ] && echo "exit $rc" >>"$log"
    [ $rc -ne 0 ] && fail=$((fail + 1))
  done
  pass=$(grep -c '^\[PASS\]' "$log")
  fail=$((fail + $(grep -c '^\[FAIL\]' "$log")))
  skip=$(grep -c '^\[SKIP\]' "$log")
  echo "parity: $pass passed, $fail failed (binaries with a non-zero exit or not run count once more), $skip skipped"
}

run() {
  local t0=$SECONDS deadline=$((SECONDS + budget))
  unpack
  {
    echo "labrun GPU check, $(date -u +%FT%TZ)"
    grep -m1 -E "H200|H100|NVIDIA" "$out/nvidia-smi.txt"
    parity "" "$out/parity.log" $((deadline - 90))
    # Failures: the [FAIL] line and Criterion's assertion lines above it.
    grep -E '^\[FAIL\]|^\[----\] [^ ]+\.c:[0-9]+:|^\[----\]   +[^ ]|^exit [0-9]|^not run' "$out/parity.log" | head -60
  } | tee "$out/summary.txt"
  local left=$((deadline - SECONDS))
  [ $left -lt 30 ] && left=30
  PYTHON="$work/py" timeout $left "$root/tests/bench/run-gpu.sh" "$work" >"$out/bench.log" 2>&1
  echo "bench: exit $? (124: stopped at the time budget)" | tee -a "$out/summary.txt"
  [ -f "$work/bench/gpu.json" ] && cp "$work/bench/gpu.json" "$out/"
  cat "$out/bench.log"
  echo "done in $((SECONDS - t0)) s; results in $out" | tee -a "$out/summary.txt"
}

memcheck() {
  local deadline=$((SECONDS + budget))
  unpack
  local cs
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
  [ -n "$cs" ] || {
    echo "memcheck: compute-sanitizer not found" >&2
    exit 1
  }
  export LAB_CUDA_DEBUG=1
  parity "$cs --tool memcheck --target-processes all --error-exitcode 9" "$out/memcheck.log" $deadline |
    tee "$out/summary.txt"
  grep -E '^=========' "$out/memcheck.log" | grep -v -E 'ERROR SUMMARY: 0 errors|^========= *$' | head -40 |
    tee -a "$out/summary.txt"
}

case "$mode" in
prepare) prepare "${2:-build}" ;;
run) run ;;
memcheck) memcheck ;;
*)
  echo "usage: $0 prepare [BUILD] | run | memcheck" >&2
  exit 2
  ;;
esac
