"""PyTorch reference of bench_virgo.c: the same workloads on the same inputs
(read from the file `bench_virgo dump` writes), with torch.sparse for the
adjacency and the sparse features, the same threads, one JSON line.

  bench_virgo.py gcn DUMP THREADS     one GCN training epoch (L = 3, m = 64, Adam)
  bench_virgo.py gin DUMP THREADS     one GIN epoch on IMDB-BINARY, batches of 32 in file order
  bench_virgo.py spmm-gpu THREADS     torch.sparse.mm on cuda:0, PubMed-sized graph (exit 3 without CUDA)
"""
import json
import statistics
import sys
import time

import numpy as np
import torch


def read_dump(path):
    raw = open(path, "rb").read()
    h = np.frombuffer(raw, dtype=np.int64, count=6)
    off = 48
    def take(dtype, count):
        nonlocal off
        a = np.frombuffer(raw, dtype=dtype, count=count, offset=off)
        off += a.nbytes
        return a
    if h[0] == 1:
        n, f, c, e, ntr = (int(v) for v in h[1:])
        x = take(np.float32, n * f).reshape(n, f)
        edges = take(np.int64, 2 * e).reshape(2, e)
        labels = take(np.int64, n)
        train = take(np.int64, ntr)
        return dict(kind="nodes", n=n, f=f, c=c, x=x, edges=edges, labels=labels, train=train)
    n, g, c, e = (int(v) for v in h[1:5])
    edges = take(np.int64, 2 * e).reshape(2, e)
    ptr = take(np.int64, g + 1)
    labels = take(np.int64, g)
    return dict(kind="graphs", n=n, g=g, c=c, edges=edges, ptr=ptr, labels=labels)


def gcn_operator(edges, n):
    """A_hat = D_in^-1/2 (A + I) D_out^-1/2, duplicates and self-loops dropped (as lab_gnn_graph)."""
    src, dst = edges
    keep = src != dst
    pairs = np.unique(np.stack([dst[keep], src[keep]]), axis=1)
    loops = np.arange(n)
    rows = np.concatenate([pairs[0], loops])
    cols = np.concatenate([pairs[1], loops])
    din = np.bincount(rows, minlength=n).astype(np.float64)
    dout = np.bincount(cols, minlength=n).astype(np.float64)
    vals = 1.0 / np.sqrt(din[rows]) / np.sqrt(dout[cols])
    idx = torch.from_numpy(np.stack([rows, cols]))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(vals.astype(np.float32)), (n, n)).coalesce()


def timed(fn, warm, reps):
    for _ in range(warm):
        fn()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(t)


def bench_gcn(d):
    torch.manual_seed(0)
    a = gcn_operator(d["edges"], d["n"])
    x = torch.from_numpy(d["x"].copy()).to_sparse().coalesce()
    y = torch.from_numpy(d["labels"].copy())
    tr = torch.from_numpy(d["train"].copy())
    dims = [d["f"], 64, 64, d["c"]]
    ws = [torch.nn.Parameter(torch.empty(dims[i], dims[i + 1]).uniform_(-0.1, 0.1)) for i in range(3)]
    bs = [torch.nn.Parameter(torch.zeros(dims[i + 1])) for i in range(3)]
    opt = torch.optim.Adam(ws + bs, lr=1e-3, weight_decay=5e-6)

    def epoch():
        h = torch.sparse.mm(a, torch.sparse.mm(x, ws[0])) + bs[0]
        h = torch.relu(h)
        h = torch.relu(torch.sparse.mm(a, h @ ws[1]) + bs[1])
        out = torch.sparse.mm(a, h @ ws[2]) + bs[2]
        loss = torch.nn.functional.cross_entropy(out[tr], y[tr])
        opt.zero_grad()
        loss.backward()
        opt.step()

    return timed(epoch, 5, 40)


class Gin(torch.nn.Module):
    def __init__(self, fin, h, c, layers=5):
        super().__init__()
        self.mlps = torch.nn.ModuleList()
        self.bns = torch.nn.ModuleList()
        for l in range(layers):
            self.mlps.append(torch.nn.Sequential(torch.nn.Linear(fin if l == 0 else h, h), torch.nn.BatchNorm1d(h),
                                                 torch.nn.ReLU(), torch.nn.Linear(h, h)))
            self.bns.append(torch.nn.BatchNorm1d(h))
        self.h0 = torch.nn.Linear(h, h)
        self.h1 = torch.nn.Linear(h, c)

    def forward(self, x, a, batch, b):
        for mlp, bn in zip(self.mlps, self.bns):
            x = torch.relu(bn(mlp(x + torch.sparse.mm(a, x))))  # eps = 0
        z = torch.zeros(b, x.shape[1]).index_add_(0, batch, x)
        return self.h1(torch.relu(self.h0(z)))


def bench_gin(d):
    torch.manual_seed(0)
    n, g = d["n"], d["g"]
    src, dst = d["edges"]
    deg = np.minimum(np.bincount(dst, minlength=n), 135)
    x_all = torch.nn.functional.one_hot(torch.from_numpy(deg), 136).float()
    ptr, labels = d["ptr"], torch.from_numpy(d["labels"].copy())
    eptr = np.searchsorted(src, ptr)  # edges are sorted by source, one run per graph
    model = Gin(136, 64, d["c"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def epoch():
        for b0 in range(0, g, 32):
            b1 = min(b0 + 32, g)
            n0, n1 = ptr[b0], ptr[b1]
            e0, e1 = eptr[b0], eptr[b1]
            s, t = src[e0:e1] - n0, dst[e0:e1] - n0
            a = torch.sparse_coo_tensor(torch.from_numpy(np.stack([t, s])), torch.ones(e1 - e0), (n1 - n0, n1 - n0))
            batch = torch.from_numpy(np.repeat(np.arange(b1 - b0), np.diff(ptr[b0:b1 + 1])))
            out = model(x_all[n0:n1], a, batch, b1 - b0)
            loss = torch.nn.functional.cross_entropy(out, labels[b0:b1])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return timed(epoch, 1, 7)


def bench_spmm_gpu():
    if not torch.cuda.is_available():
        print("no CUDA device for PyTorch", file=sys.stderr)
        sys.exit(3)
    n, nnz = 19717, 108365
    pairs = (nnz - n) // 2
    g = torch.Generator().manual_seed(1)
    u = torch.randint(0, n, (pairs,), generator=g)
    v = torch.randint(0, n, (pairs,), generator=g)
    e = np.stack([torch.cat([u, v]).numpy(), torch.cat([v, u]).numpy()])
    a = gcn_operator(e, n).cuda()
    res = {"workload": "spmm-gpu", "nodes": n, "nnz": int(a._nnz())}
    for f in (64, 500):
        x = torch.randn(n, f, device="cuda")

        def run():
            torch.sparse.mm(a, x)
            torch.cuda.synchronize()

        ms = timed(run, 10, 100)
        res[f"f{f}_ms"] = ms
        res[f"f{f}_gflops"] = 2.0 * a._nnz() * f / (ms * 1e6)
    return res


def main():
    w = sys.argv[1]
    torch.set_num_threads(int(sys.argv[-1]))
    if w == "spmm-gpu":
        print(json.dumps(bench_spmm_gpu()))
        return
    d = read_dump(sys.argv[2])
    if w == "gcn":
        print(json.dumps({"workload": "gcn", "ms": bench_gcn(d)}))
    elif w == "gin":
        print(json.dumps({"workload": "gin-imdb-binary", "ms": bench_gin(d)}))
    else:
        sys.exit(f"bench_virgo.py: unknown workload {w}")


if __name__ == "__main__":
    main()
