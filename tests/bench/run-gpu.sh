#!/usr/bin/env bash
# make bench-gpu: the CUDA backend's benchmarks (bench_gpu.c) next to the same
# workloads in PyTorch on the GPU (bench_gpu.py), merged into
# $BUILD/bench/gpu.json with ratios, and a table on stdout. Never part of
# make test. Without a usable GPU it prints one line and exits 0.
#
# usage: run-gpu.sh [BUILD] [WORKLOAD-PREFIX]     (PYTHON=... picks the interpreter)
set -uo pipefail
BUILD=${1:-build}
only=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
out="$BUILD/bench"
mkdir -p "$out"
py=${PYTHON:-python3}
bin="$BUILD/bench/bench_gpu"
lab="$out/gpu_lab.jsonl"
ref="$out/gpu_torch.jsonl"

if [ ! -x "$bin" ]; then
  echo "bench-gpu: $bin is missing (make bench-gpu builds it)" >&2
  exit 1
fi
"$bin" $only >"$lab" 2>"$out/gpu_lab.err"
rc=$?
if [ $rc -eq 3 ]; then
  echo "bench-gpu: skipped: $(head -1 "$out/gpu_lab.err")"
  rm -f "$lab"
  exit 0
fi
if [ $rc -ne 0 ]; then
  cat "$out/gpu_lab.err" >&2
  echo "bench-gpu: bench_gpu failed (exit $rc); partial results in $lab" >&2
  exit 1
fi

: >"$ref"
if "$py" -c "import torch" 2>/dev/null; then
  "$py" "$here/bench_gpu.py" $only >"$ref" 2>"$out/gpu_torch.err" ||
    echo "bench-gpu: the PyTorch reference failed: $(tail -1 "$out/gpu_torch.err")" >&2
  [ -s "$out/gpu_torch.err" ] && head -3 "$out/gpu_torch.err" >&2
else
  echo "bench-gpu: PyTorch is not importable by $py: no PyTorch reference" >&2
fi

if ! "$py" - "$lab" "$ref" "$out/gpu.json" <<'EOF'
import json, sys

def load(path):
    rows = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    r = json.loads(line)
                    rows[r["workload"]] = r
    except FileNotFoundError:
        pass
    return rows

ours, torch = load(sys.argv[1]), load(sys.argv[2])
ratios = {}
for name, r in ours.items():
    if name.startswith("sgemm") and name in torch:
        ratios[name] = r["ours_tflops"] / torch[name]["torch_tflops"]
        ratios[name + "_tf32"] = r["ours_tf32_tflops"] / torch[name]["torch_tf32_tflops"]
    elif name in ("copy", "affine", "add") and name in torch:
        ratios[name] = r["gbps"] / torch[name]["gbps"]
    elif name.startswith("gcn_") and "gcn_torch" in torch:
        ratios[name] = torch["gcn_torch"]["train_step_ms"] / r["train_step_ms"]
    elif name in torch and "ms" in r and "ms" in torch[name]:
        ratios[name] = torch[name]["ms"] / r["ms"]
doc = {
    "note": "ratios > 1 mean labrun is faster (throughput ours/torch, or time torch/ours)",
    "device": ours.get("device", {}).get("info"),
    "labrun": list(ours.values()),
    "pytorch": list(torch.values()),
    "ratios": ratios,
}
with open(sys.argv[3], "w") as f:
    json.dump(doc, f, indent=2)
print(f"GPU: {doc['device']}")
for name, r in ours.items():
    if name == "device":
        continue
    keys = [k for k in r if k != "workload"]
    print(f"  {name:14s} " + ", ".join(f"{k} {r[k]:.4g}" if isinstance(r[k], float) else f"{k} {r[k]}" for k in keys)
          + (f"  | vs PyTorch {ratios[name]:.2f}x" if name in ratios else ""))
print(f"written {sys.argv[3]}")
EOF
then
  # No Python: keep labrun's lines as a JSON array.
  { echo "["; sed '$!s/$/,/' "$lab"; echo "]"; } >"$out/gpu.json"
  cat "$lab"
fi
exit 0
