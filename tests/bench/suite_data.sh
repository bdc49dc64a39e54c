#!/usr/bin/env bash
# Data-layer benchmarks (make bench runs every tests/bench/suite_*.sh with
# BUILD THREADS): MNIST load + one epoch of batching, log-mel of 1,000 clips,
# against PyTorch's DataLoader / torch.stft in the same run. Writes
# $BUILD/bench/data.json (ours) and data.torch.json (with ratios).
set -uo pipefail
BUILD=${1:-build}
out="$BUILD/bench"
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
echo "  bench data ..." >&2
"$BUILD/bench/bench_data" "$out/data.json" || { echo "suite_data: bench_data failed" >&2; exit 1; }
if "$py" -c "import torch" 2>/dev/null; then
  "$py" "$(dirname "$0")/bench_data.py" "$out/data.torch.json" "$out/data.json" || echo "suite_data: torch reference failed" >&2
fi
"$py" - "$out/data.json" "$out/data.torch.json" <<'PY'
import json, os, sys
ours = json.load(open(sys.argv[1]))
print("\ndata layer:")
print(json.dumps(ours, indent=1))
if os.path.exists(sys.argv[2]):
    t = json.load(open(sys.argv[2]))
    print("pytorch reference (ratios = ours / torch):")
    print(json.dumps(t, indent=1))
PY
