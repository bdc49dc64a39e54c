#!/usr/bin/env python3
"""PyTorch reference for tests/bench/bench_data.c (a benchmark, not a test).

    /usr/bin/python3 tests/bench/bench_data.py OUT.json [OURS.json]

Does the same work as bench_data.c with PyTorch on the CPU:
  - MNIST: read the four IDX .gz files (gzip + numpy), one epoch through
    DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True) with the
    same scaling and normalisation per batch, the consumer summing every value;
  - log-mel of 1,000 one-second 16 kHz clips: torch.stft (n_fft 400, hop 200,
    periodic Hann, reflect centre padding), |X|^2, the 128-band HTK mel matrix
    (torchaudio's formula; torchaudio itself is not installed), then
    10*log10(max(x, 1e-10)) clipped to max - 80 dB per clip.
With OURS.json (bench_data.c's output) the file also gets ratios
ours_time / torch_time (below 1: labrun is faster).
"""
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch


def find_mnist():
    roots = [os.environ.get("LAB_DATA_DIR", ""), "data", "../shared/data"]
    for r in roots:
        d = os.path.join(r, "mnist") if r else ""
        if d and os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")):
            return d
    return None


def read_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    ndim = buf[3]
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def bench_mnist(res):
    d = find_mnist()
    if d is None:
        res["mnist_skipped"] = True
        return
    t0 = time.perf_counter()
    x = torch.from_numpy(read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    res["mnist_load_s"] = time.perf_counter() - t0
    ds = torch.utils.data.TensorDataset(x, y)
    best = 1e30
    check = 0.0
    for _ in range(3):
        g = torch.Generator().manual_seed(1)
        dl = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, generator=g, num_workers=0)
        t0 = time.perf_counter()
        s = 0.0
        for bx, by in dl:
            bx = (bx * (1.0 / 255) - 0.1307) / 0.3081
            s += float(bx.sum())
        best = min(best, time.perf_counter() - t0)
        check += s
    res["mnist_samples"] = int(x.shape[0])
    res["mnist_epoch_s"] = best
    res["mnist_samples_per_s"] = x.shape[0] / best


def mel_matrix(sr, n_fft, n_mels):
    """torchaudio.functional.melscale_fbanks(htk, norm=None), as [n_mels, n_freqs]."""
    def hz2mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    freqs = np.linspace(0, sr // 2, n_fft // 2 + 1)
    m = np.linspace(hz2mel(0.0), hz2mel(sr / 2), n_mels + 2)
    f = 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    fdiff = np.diff(f)
    slopes = f[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / fdiff[:-1]
    up = slopes[:, 2:] / fdiff[1:]
    fb = np.maximum(0, np.minimum(down, up))
    return torch.from_numpy(fb.T.astype(np.float32))


def bench_logmel(res):
    sr, clips = 16000, 1000
    fb = mel_matrix(sr, 400, 128)
    win = torch.hann_window(400)
    g = torch.Generator().manual_seed(7)
    t_total = 0.0
    i = torch.arange(sr, dtype=torch.float64)
    for c in range(clips):
        wave = (0.1 * (2 * torch.rand(sr, generator=g, dtype=torch.float64) - 1)
                + 0.5 * torch.sin(2 * math.pi * (200 + c) * i / sr)).float()
        t0 = time.perf_counter()
        X = torch.stft(wave, 400, hop_length=200, win_length=400, window=win, center=True,
                       pad_mode="reflect", return_complex=True)
        p = X.real ** 2 + X.imag ** 2
        mel = fb @ p
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        db = torch.maximum(db, db.max() - 80.0)
        t_total += time.perf_counter() - t0
    res["logmel_clips"] = clips
    res["logmel_s"] = t_total
    res["logmel_clips_per_s"] = clips / t_total


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    res = {"bench": "data-torch", "torch": torch.__version__, "threads": torch.get_num_threads()}
    bench_mnist(res)
    bench_logmel(res)
    if len(sys.argv) == 3 and os.path.exists(sys.argv[2]):
        with open(sys.argv[2]) as f:
            ours = json.load(f)
        ratios = {}
        if "mnist_epoch_s_prefetch2" in ours and "mnist_epoch_s" in res:
            ratios["mnist_epoch"] = ours["mnist_epoch_s_prefetch2"] / res["mnist_epoch_s"]
            ratios["mnist_load"] = ours["mnist_load_s"] / res["mnist_load_s"]
        if "logmel_s" in ours:
            ratios["logmel"] = ours["logmel_s"] / res["logmel_s"]
        res["ratio_ours_over_torch"] = ratios
    with open(sys.argv[1], "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
