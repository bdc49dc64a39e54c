"""PyTorch CPU reference for bench_core.c: same workloads, same output."""
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def gemm(n):
    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    base = rss_kb()
    reps = 40 if n <= 512 else 12 if n <= 1024 else 4
    ts = []
    for r in range(-2, reps):
        t0 = time.perf_counter()
        c = a @ b
        dt = time.perf_counter() - t0
        del c
        if r >= 0:
            ts.append(dt)
    med = statistics.median(ts)
    return {"workload": f"gemm{n}", "ms": med * 1e3, "gflops": 2 * n ** 3 / med / 1e9,
            "peak_rss_kb": peak_kb(), "base_rss_kb": base}


def train(name, cnn, chans, side):
    torch.manual_seed(0)
    B = 128
    if cnn:
        flat = 64 * (side // 4) * (side // 4)
        model = nn.Sequential(nn.Conv2d(chans, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(), nn.Linear(256, 10))
        x = torch.randn(B, chans, side, side)
    else:
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        x = torch.randn(B, 784)
    y = torch.randint(0, 10, (B,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    base = rss_kb()
    reps = 20 if cnn else 100
    ts = []
    for r in range(-3, reps):
        t0 = time.perf_counter()
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if r >= 0:
            ts.append(time.perf_counter() - t0)
    return {"workload": name, "ms": statistics.median(ts) * 1e3, "peak_rss_kb": peak_kb(),
            "base_rss_kb": base}


def main():
    w, threads = sys.argv[1], int(sys.argv[-1])
    torch.set_num_threads(threads)
    if w == "gemm":
        out = gemm(int(sys.argv[2]))
    elif w == "mlp":
        out = train("mlp", False, 1, 28)
    elif w == "cnn1":
        out = train("cnn1x28", True, 1, 28)
    elif w == "cnn3":
        out = train("cnn3x32", True, 3, 32)
    else:
        sys.exit(f"unknown workload {w}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
