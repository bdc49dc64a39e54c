#!/usr/bin/env bash
# Static checks of the CUDA kernels that need no GPU (make test runs it when
# nvcc exists): every kernels/cuda/*.cu compiles with host and device
# warnings as errors, and ptxas reports no register spills and no stack
# frame for any kernel except the allowed ones below. A stack frame without
# spills means an array was put in local memory, which in our kernels has
# meant indexing a lane's register array with a computed index, i.e. a bug
# (it found one in k_attn_bwd_kv). CUDA's double-precision sin/cos/log keep
# a small local buffer for large-argument reduction; those kernels are
# allowed by name.
#
# usage: tools/cuda-lint.sh [NVCC]
set -uo pipefail
nvcc=${1:-nvcc}
root=$(cd "$(dirname "$0")/.." && pwd)
allow='^(_Z6k_rope|_Z8k_normal)'   # double sincos / log+cos: libdevice's reduction buffer
if ! command -v "$nvcc" >/dev/null 2>&1; then
  echo "  cuda-lint: skipped: $nvcc not found"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
for f in "$root"/kernels/cuda/*.cu; do
  out=$("$nvcc" -O2 -std=c++17 -Xcompiler -fPIC,-Wall,-Wextra -Werror all-warnings \
    -gencode arch=compute_90,code=sm_90 -Xptxas -v -I"$root/framework/include" -I"$root/framework/core" \
    -c "$f" -o "$tmp/k.o" 2>&1)
  if [ $? -ne 0 ]; then
    printf '%s\n' "$out" | grep -v '^ptxas info' | head -20
    echo "  cuda-lint: $(basename "$f") does not compile cleanly"
    fail=1
    continue
  fi
  # Pair each "Compiling entry function 'K'" with the "N bytes stack frame, S bytes spill stores" line after it.
  k=""
  while IFS= read -r line; do
    case "$line" in
    *"Compiling entry function"*)
      k=${line#*function \'}
      k=${k%%\'*}
      ;;
    *"bytes stack frame"*)
      n=$((n + 1))
      st=$(sed -E 's/.* ([0-9]+) bytes stack frame.*/\1/' <<<"$line")
      sp=$(sed -E 's/.* ([0-9]+) bytes spill stores.*/\1/' <<<"$line")
      if [ "$sp" -gt 0 ] || { [ "$st" -gt 0 ] && ! [[ $k =~ $allow ]]; }; then
        echo "  cuda-lint: $(basename "$f"): $k: $st bytes stack frame, $sp bytes spill stores"
        fail=1
      fi
      ;;
    esac
  done <<<"$out"
done
[ $fail -eq 0 ] && echo "  cuda-lint: $n kernels: no warnings, no spills, no unexpected stack frames"
exit $fail
