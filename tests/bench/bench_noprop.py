"""PyTorch CPU reference for bench_noprop.c: the NoProp-DT block written
from the brief (../shared/papers/noprop.md §3, §7), the same workloads, the
same JSON output.

    bench_noprop.py block THREADS   one DT block train step, batch 128
    bench_noprop.py infer THREADS   the 10-block inference chain on 1000 images

The block's parameter count is checked against the paper's (919,946)."""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ImagePath(nn.Module):
    def __init__(self, c=1, flat=2048, drop=0.2):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(c, 32, 3), nn.Conv2d(32, 64, 3), nn.Conv2d(64, 128, 3)
        self.fc, self.bn, self.drop = nn.Linear(flat, 256), nn.BatchNorm1d(256), drop

    def forward(self, x):
        d = lambda h: F.dropout(h, self.drop, self.training)
        h = d(F.max_pool2d(F.relu(self.c1(x)), 2))
        h = d(F.relu(self.c2(h)))
        h = d(F.max_pool2d(F.relu(self.c3(h)), 2))
        return self.bn(self.fc(h.flatten(1)))


class DTBlock(nn.Module):
    def __init__(self, d=10, m=10):
        super().__init__()
        self.img = ImagePath()
        self.l1, self.l2, self.l3 = nn.Linear(d, 256), nn.Linear(256, 256), nn.Linear(256, 256)
        self.lb1, self.lb2, self.lb3 = nn.BatchNorm1d(256), nn.BatchNorm1d(256), nn.BatchNorm1d(256)
        self.f1, self.f2, self.f3 = nn.Linear(512, 256), nn.Linear(256, 128), nn.Linear(128, m)
        self.fb1, self.fb2 = nn.BatchNorm1d(256), nn.BatchNorm1d(128)

    def forward(self, x, z):
        f = self.img(x)
        h = F.relu(self.lb1(self.l1(z)))
        zf = h + self.lb3(self.l3(F.relu(self.lb2(self.l2(h)))))
        h = F.relu(self.fb1(self.f1(torch.cat([f, zf], 1))))
        h = F.relu(self.fb2(self.f2(h)))
        return self.f3(h)


def cosine_schedule(T=10, s=0.008):
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    ab = [min(max(f(1 - t / T) / f(0), 1e-5), 0.9999) for t in range(T + 1)]
    coef = [None]
    for t in range(1, T + 1):
        al = ab[t - 1] / ab[t]
        coef.append((math.sqrt(ab[t]) * (1 - al) / (1 - ab[t - 1]), math.sqrt(al) * (1 - ab[t]) / (1 - ab[t - 1]),
                     (1 - ab[t]) * (1 - al) / (1 - ab[t - 1])))
    return ab, coef


def block(threads):
    torch.manual_seed(0)
    blk, head, W = DTBlock(), nn.Linear(10, 10), torch.eye(10)
    assert sum(p.numel() for p in blk.parameters()) == 919946
    opt = torch.optim.AdamW(list(blk.parameters()) + list(head.parameters()), lr=1e-3, weight_decay=1e-3)
    ab, _ = cosine_schedule()
    t, T = 5, 10
    w = T * 0.1 / 2 * (ab[t] / (1 - ab[t]) - ab[t - 1] / (1 - ab[t - 1]))
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    ws, cs = [], []
    for r in range(-3, 12):
        w0, c0 = time.perf_counter(), time.process_time()
        u = W[y]
        zp = math.sqrt(ab[t - 1]) * u + math.sqrt(1 - ab[t - 1]) * torch.randn_like(u)
        zT = math.sqrt(ab[T]) * u + math.sqrt(1 - ab[T]) * torch.randn_like(u)
        uhat = F.softmax(blk(x, zp), 1) @ W
        loss = w * ((uhat - u) ** 2).sum(1).mean() + F.cross_entropy(head(zT), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if r >= 0:
            ws.append(time.perf_counter() - w0)
            cs.append(time.process_time() - c0)
    mw, mc = statistics.median(ws), statistics.median(cs)
    return {"workload": "dt-block-step", "batch": 128, "ms": mw * 1e3, "cpu_ms": mc * 1e3,
            "images_per_s": 128 / mw, "images_per_cpu_s": 128 / mc}


@torch.no_grad()
def infer(threads):
    torch.manual_seed(0)
    blocks = [DTBlock().eval() for _ in range(10)]
    head, W = nn.Linear(10, 10), torch.eye(10)
    _, coef = cosine_schedule()
    x = torch.randn(1000, 1, 28, 28)
    ws, cs = [], []
    for r in range(-1, 5):
        w0, c0 = time.perf_counter(), time.process_time()
        z = torch.randn(1000, 10)
        for t in range(1, 11):
            a, b, c = coef[t]
            z = a * (F.softmax(blocks[t - 1](x, z), 1) @ W) + b * z + math.sqrt(c) * torch.randn_like(z)
        head(z).argmax(1)
        if r >= 0:
            ws.append(time.perf_counter() - w0)
            cs.append(time.process_time() - c0)
    mw, mc = statistics.median(ws), statistics.median(cs)
    return {"workload": "dt-inference", "images": 1000, "blocks": 10, "ms": mw * 1e3, "cpu_ms": mc * 1e3,
            "images_per_s": 1000 / mw, "images_per_cpu_s": 1000 / mc}


if __name__ == "__main__":
    mode, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    print(json.dumps({"block": block, "infer": infer}[mode](threads)))
