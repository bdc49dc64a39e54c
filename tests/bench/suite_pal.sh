#!/usr/bin/env bash
# PAL benchmarks (make bench runs every tests/bench/suite_*.sh with BUILD
# THREADS): step time and peak tensor memory of PLITS vs LAL at Na in
# {8, 96, 1024} audio tokens on the cpu, and on cuda:0 when a GPU is usable.
# Writes $BUILD/bench/pal.json and prints a table; LAL/PLITS ratios below 1
# are the paper's efficiency claim (goal, never asserted). Never part of
# make test.
set -uo pipefail
BUILD=${1:-build}
threads=${2:-$(nproc)}
out="$BUILD/bench"
bin="$BUILD/bench/bench_pal"
mkdir -p "$out"
if [ ! -x "$bin" ]; then
  echo "suite_pal: $bin is missing (make bench builds it)" >&2
  exit 1
fi
raw="$out/pal.raw.jsonl"
: >"$raw"
echo "  bench pal cpu ..." >&2
"$bin" "$threads" cpu 8 96 1024 >>"$raw" || exit 1
if [ -n "$("$BUILD/bin/labrun" devices 2>/dev/null | grep -i 'cuda:0')" ]; then
  echo "  bench pal cuda ..." >&2
  "$bin" "$threads" cuda:0 8 96 1024 >>"$raw" || echo "suite_pal: cuda run failed" >&2
fi
{
  echo "["
  sed '$!s/$/,/' "$raw"
  echo "]"
} >"$out/pal.json"
printf '\npal: PLITS vs LAL, one training step (L=6, d=128, Nt=32, batch 4)\n'
printf '%-6s %-5s %12s %12s %8s %12s %12s %8s\n' device Na plits_ms lal_ms ratio plits_MiB lal_MiB ratio
sed -E 's/.*"na": ([0-9]+), "device": "([^"]+)", "plits_step_ms": ([0-9.]+), "lal_step_ms": ([0-9.]+), "plits_peak_mib": ([0-9.]+), "lal_peak_mib": ([0-9.]+), "step_ratio": ([0-9.]+), "mem_ratio": ([0-9.]+).*/\2 \1 \3 \4 \7 \5 \6 \8/' "$raw" |
  while read -r dv na pm lm sr pp lp mr; do
    printf '%-6s %-5s %12s %12s %8s %12s %12s %8s\n' "$dv" "$na" "$pm" "$lm" "$sr" "$pp" "$lp" "$mr"
  done
echo "pal: wrote $out/pal.json"
