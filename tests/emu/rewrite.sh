#!/usr/bin/env bash
# kernels/cuda/X.cu -> host C++ for the CUDA emulator: the one construct C++
# cannot parse, a launch `k<<<grid, block, shm, stream>>>(args)`, becomes
# `lab_emu_launch(grid, block, shm, stream, k)(args)` (tests/emu/cuda_emu.h).
# Every launch in kernels/cuda has its <<<...>>> on one line.
# usage: rewrite.sh IN.cu OUT.cpp
set -euo pipefail
{
  printf '#line 1 "%s"\n' "$1"
  sed -E 's/([A-Za-z_][A-Za-z0-9_]*(<[^<>]*>)?)<<<(.*)>>>\(/lab_emu_launch(\3, \1)(/' "$1"
} >"$2.tmp"
if grep -n '<<<' "$2.tmp" >&2; then
  echo "rewrite.sh: $1: a launch the rewrite did not understand (see above)" >&2
  rm -f "$2.tmp"
  exit 1
fi
mv "$2.tmp" "$2"
