#!/usr/bin/env bash
# Virgo benchmarks (make bench runs every tests/bench/suite_*.sh with BUILD
# THREADS): epoch time of full-batch GCN (L = 3, m = 64) on Cora and CiteSeer
# and of GIN on IMDB-BINARY, ours (bench_virgo) against PyTorch
# (bench_virgo.py, torch.sparse) on identical inputs and threads; with a
# usable GPU also CSR spmm throughput on a PubMed-sized graph. Writes
# $BUILD/bench/virgo.json and prints a table; ratio = ours / PyTorch (goal
# <= 1.0). Never part of make test.
set -uo pipefail
BUILD=${1:-build}
threads=${2:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
out="$BUILD/bench"
bin="$BUILD/bench/bench_virgo"
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
if [ ! -x "$bin" ]; then
  echo "suite_virgo: $bin is missing (make bench builds it)" >&2
  exit 1
fi
have_torch=1
"$py" -c "import torch, numpy" 2>/dev/null || have_torch=0
raw="$out/virgo.raw.jsonl"
: >"$raw"
pair() { # name, our args..., --, torch args...
  local name=$1; shift
  local ours=() theirs=()
  while [ "$1" != "--" ]; do ours+=("$1"); shift; done; shift
  theirs=("$@")
  echo "  bench virgo $name ..." >&2
  local o t="null"
  o=$("$bin" "${ours[@]}" "$threads") || { echo "suite_virgo: $name failed" >&2; return; }
  [ $have_torch = 1 ] && t=$("$py" "$here/bench_virgo.py" "${theirs[@]}" "$threads" 2>/dev/null || echo null)
  printf '{"name": "%s", "ours": %s, "torch": %s}\n' "$name" "$o" "${t:-null}" >>"$raw"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in cora citeseer; do
  if "$bin" dump "$d" "$tmp/$d.bin" 2>/dev/null; then
    pair "gcn-$d" gcn "$d" -- gcn "$tmp/$d.bin"
  else
    echo "  skip gcn-$d: data set not found" >&2
  fi
done
if "$bin" dump tu:IMDB-BINARY "$tmp/imdb.bin" 2>/dev/null; then
  pair gin-imdb-binary gin -- gin "$tmp/imdb.bin"
else
  echo "  skip gin-imdb-binary: data set not found" >&2
fi
gpu=$("$bin" spmm-gpu "$threads" 2>"$tmp/gpu.err"); rc=$?
if [ $rc -eq 0 ]; then
  t=null
  [ $have_torch = 1 ] && t=$("$py" "$here/bench_virgo.py" spmm-gpu "$threads" 2>/dev/null || echo null)
  printf '{"name": "spmm-gpu", "ours": %s, "torch": %s}\n' "$gpu" "${t:-null}" >>"$raw"
else
  echo "  skip spmm-gpu: $(head -1 "$tmp/gpu.err")" >&2
fi
"$py" - "$raw" "$out/virgo.json" "$threads" <<'PY'
import json, sys
raw, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [json.loads(l) for l in open(raw) if l.strip()]
print(f"\nvirgo benchmarks ({threads} threads); ratio = ours / PyTorch (goal <= 1.0)")
print(f"{'workload':<18} {'ours ms':>9} {'torch ms':>9} {'ratio':>6}")
res = []
for r in rows:
    o, t = r["ours"], r["torch"]
    if r["name"] == "spmm-gpu":
        for f in (64, 500):
            om, tm = o[f"f{f}_ms"], (t or {}).get(f"f{f}_ms")
            print(f"{'spmm-gpu F=' + str(f):<18} {om:9.4f} {tm if tm else float('nan'):9.4f} "
                  f"{om / tm if tm else float('nan'):6.2f}  {o[f'f{f}_gflops']:.1f} GFLOP/s")
        res.append({"name": r["name"], "ours": o, "torch": t})
        continue
    ratio = o["ms"] / t["ms"] if t else None
    print(f"{r['name']:<18} {o['ms']:9.3f} {t['ms'] if t else float('nan'):9.3f} "
          f"{ratio if ratio else float('nan'):6.2f}")
    res.append({"name": r["name"], "ours": o, "torch": t, "time_ratio": ratio})
json.dump({"threads": threads, "workloads": res}, open(out, "w"), indent=1)
print(f"wrote {out}")
PY
