"""PyTorch-on-GPU reference for bench_gpu.c: the same workloads, the same
JSON lines. Without torch.cuda it prints one line on stderr and exits 0 with
no output (run-gpu.sh then reports labrun's numbers alone).

    python3 bench_gpu.py [workload-prefix]
"""
import json
import statistics
import sys
import time


def med(ts):
    return statistics.median(ts)


def timed(fn, reps, warm=3):
    import torch
    ts = []
    for r in range(-warm, reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        if r >= 0:
            ts.append(time.perf_counter() - t0)
    return med(ts)


def copy():
    import torch
    n = 1 << 28
    src, dst = torch.ones(n, device="cuda"), torch.empty(n, device="cuda")
    s = timed(lambda: dst.copy_(src), 20)
    gbps = 2 * n * 4 / s / 1e9
    return {"workload": "copy", "bytes": n * 4, "ms": s * 1e3, "gbps": gbps, "fraction_of_peak": gbps / 4800}


def sgemm(n):
    import torch
    g = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(n, n, device="cuda", generator=g)
    b = torch.randn(n, n, device="cuda", generator=g)
    reps = 30 if n <= 2048 else 12 if n <= 4096 else 5
    flop = 2.0 * n ** 3
    torch.backends.cuda.matmul.allow_tf32 = False
    s = timed(lambda: a @ b, reps, 2)
    torch.backends.cuda.matmul.allow_tf32 = True
    s32 = timed(lambda: a @ b, reps, 2)
    torch.backends.cuda.matmul.allow_tf32 = False
    return {"workload": f"sgemm{n}", "torch_tflops": flop / s / 1e12, "torch_tf32_tflops": flop / s32 / 1e12,
            "torch_ms": s * 1e3}


def elementwise():
    import torch
    n = 1 << 28
    x = torch.rand(n, device="cuda") * 2 - 1
    y = torch.rand(n, device="cuda") * 2 - 1
    out = []
    # affine as one fused kernel (torch.add with alpha: x*2 + 1 would be two).
    one = torch.ones((), device="cuda")
    for name, fn, nbytes in (("affine", lambda: torch.add(one, x, alpha=2.0), 8 * n),
                             ("add", lambda: x + y, 12 * n)):
        s = timed(fn, 20)
        out.append({"workload": name, "elements": n, "ms": s * 1e3, "gbps": nbytes / s / 1e9,
                    "fraction_of_peak": nbytes / s / 1e9 / 4800})
    return out


def pubmed_like():
    """bench_gpu.c's random graph, built the same way in spirit (PyTorch's
    generator, not Philox: the same sizes, not the same edges)."""
    import torch
    N, E = 19717, 44324
    g = torch.Generator().manual_seed(3)
    u = torch.randint(0, N, (E,), generator=g)
    v = torch.randint(0, N, (E,), generator=g)
    v = torch.where(u == v, (v + 1) % N, v)
    loops = torch.arange(N)
    src = torch.cat([u, v, loops])
    dst = torch.cat([v, u, loops])
    deg = torch.bincount(src, minlength=N).float()
    val = 1.0 / torch.sqrt(deg[src] * deg[dst])
    a = torch.sparse_coo_tensor(torch.stack([src, dst]), val, (N, N)).coalesce().to_sparse_csr()
    return a.cuda(), src.numel()


def gcn():
    import torch
    a, m = pubmed_like()
    g = torch.Generator(device="cuda").manual_seed(4)
    x = torch.randn(19717, 500, device="cuda", generator=g)
    w = (torch.randn(500, 64, device="cuda", generator=g) * 0.05).requires_grad_()
    r = torch.randn(19717, 64, device="cuda", generator=g)

    def fwd():
        with torch.no_grad():
            torch.sparse.mm(a, x @ w)

    def step():
        h = torch.sparse.mm(a, x @ w)
        (h * r).sum().backward()
        w.grad = None

    return {"workload": "gcn_torch", "nodes": 19717, "edges": m, "forward_ms": timed(fwd, 50) * 1e3,
            "train_step_ms": timed(step, 50) * 1e3}


def train(name, cnn, chans, side):
    import torch
    import torch.nn as nn
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
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()

    def step():
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    # cuDNN as PyTorch ships it (benchmark mode off, TF32 for convolutions
    # is PyTorch's default: recorded, not changed).
    return {"workload": name, "ms": timed(step, 100, 5) * 1e3,
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32)}


def attention():
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    shape = (16, 4, 128, 32)
    q, k, v = (torch.randn(shape, device="cuda", requires_grad=True) for _ in range(3))
    r = torch.randn(shape, device="cuda")

    def step():
        (F.scaled_dot_product_attention(q, k, v, is_causal=True) * r).sum().backward()
        q.grad = k.grad = v.grad = None

    return {"workload": "attention", "ms": timed(step, 100, 5) * 1e3}


def main():
    try:
        import torch
    except ImportError:
        print("bench_gpu.py: PyTorch is not importable: no PyTorch reference", file=sys.stderr)
        return 0
    if not torch.cuda.is_available():
        print("bench_gpu.py: torch.cuda is not available: no PyTorch GPU reference", file=sys.stderr)
        return 0
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    print(json.dumps({"workload": "device", "info": torch.cuda.get_device_name(0),
                      "torch": torch.__version__}), flush=True)
    jobs = [("copy", copy), ("sgemm2048", lambda: sgemm(2048)), ("sgemm4096", lambda: sgemm(4096)),
            ("sgemm8192", lambda: sgemm(8192)), ("elementwise", elementwise), ("gcn", gcn),
            ("mlp", lambda: train("mlp", False, 1, 28)), ("cnn1x28", lambda: train("cnn1x28", True, 1, 28)),
            ("cnn3x32", lambda: train("cnn3x32", True, 3, 32)), ("attention", attention)]
    for name, fn in jobs:
        if only and not name.startswith(only):
            continue
        res = fn()
        for r in res if isinstance(res, list) else [res]:
            print(json.dumps(r), flush=True)
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
