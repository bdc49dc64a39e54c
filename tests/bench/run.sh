#!/usr/bin/env bash
# make bench: core workloads against PyTorch CPU (same threads, same run),
# then every tests/bench/suite_*.sh (data layer, plugins). Results land in
# $BUILD/bench/*.json; a table is printed. Never part of make test.
set -euo pipefail
BUILD=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out="$BUILD/bench"
mkdir -p "$out"
threads=${LAB_BENCH_THREADS:-$(nproc)}
py=${PYTHON:-/usr/bin/python3}
raw="$out/core.raw.jsonl"
: >"$raw"
have_torch=1
"$py" -c "import torch" 2>/dev/null || have_torch=0
[ $have_torch = 1 ] || echo "bench: PyTorch not importable by $py; ratios will be missing (make deps installs python3-torch)"
run_pair() { # name, args...
  local name=$1; shift
  echo "  bench $name ..." >&2
  local ours theirs="null"
  ours=$("$BUILD/bench/bench_core" "$@" "$threads")
  [ $have_torch = 1 ] && theirs=$("$py" "$here/bench_core.py" "$@" "$threads")
  printf '{"name": "%s", "ours": %s, "torch": %s}\n' "$name" "$ours" "$theirs" >>"$raw"
}
for n in 512 1024 2048; do run_pair "gemm$n" gemm $n; done
run_pair mlp mlp
run_pair cnn1x28 cnn1
run_pair cnn3x32 cnn3
"$py" "$here/report_core.py" "$raw" "$out/core.json" "$threads"
for s in "$here"/suite_*.sh; do
  [ -x "$s" ] && "$s" "$BUILD" "$threads"
done
exit 0
