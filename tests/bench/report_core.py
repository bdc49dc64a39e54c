"""Turns core.raw.jsonl into core.json and prints the table (ratios = ours / PyTorch)."""
import json
import re
import sys


def cpu_peak_gflops(threads):
    """Theoretical fp32 peak: cores x GHz x FLOPs/cycle (2 FMA units; 64 with
    AVX-512, 32 with AVX2+FMA). The base clock comes from the model name or
    bogomips/2 (x86 bogomips is twice the TSC MHz); turbo is ignored."""
    info = open("/proc/cpuinfo").read()
    flags = re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split()
    per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 8
    m = re.search(r"@ ([0-9.]+)GHz", info)
    ghz = float(m.group(1)) if m else float(re.search(r"bogomips\s*:\s*([0-9.]+)", info).group(1)) / 2000
    return threads * ghz * per_cycle, ghz, per_cycle


def main():
    raw, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rows = [json.loads(l) for l in open(raw) if l.strip()]
    peak, ghz, per_cycle = cpu_peak_gflops(threads)
    result = {"threads": threads, "cpu_peak_gflops": peak, "cpu_ghz": ghz, "flops_per_cycle": per_cycle,
              "workloads": []}
    print(f"\ncore benchmarks ({threads} threads; fp32 peak {peak:.0f} GFLOP/s = {threads} x {ghz:.2f} GHz x {per_cycle})")
    print(f"{'workload':<10} {'ours ms':>9} {'torch ms':>9} {'ratio':>6} {'ours MB':>8} {'torch MB':>9} {'dMB ours':>9} {'dMB torch':>9}  note")
    for r in rows:
        o, t = r["ours"], r["torch"]
        ratio = o["ms"] / t["ms"] if t else None
        rec = {"name": r["name"], "ours": o, "torch": t, "time_ratio": ratio}
        note = ""
        if "gflops" in o:
            rec["fraction_of_peak"] = o["gflops"] / peak
            note = f"{o['gflops']:.0f} GFLOP/s = {100 * o['gflops'] / peak:.0f}% of peak"
        if t:
            rec["rss_delta_kb"] = {"ours": o["peak_rss_kb"] - o["base_rss_kb"], "torch": t["peak_rss_kb"] - t["base_rss_kb"]}
            rec["peak_rss_ratio"] = o["peak_rss_kb"] / t["peak_rss_kb"]
        result["workloads"].append(rec)
        fmt = lambda v: f"{v:9.3f}" if v is not None else "        -"
        print(f"{r['name']:<10} {o['ms']:9.3f} {fmt(t['ms'] if t else None)} "
              f"{(f'{ratio:6.2f}' if ratio else '     -')} {o['peak_rss_kb'] / 1024:8.1f} "
              f"{(t['peak_rss_kb'] / 1024 if t else 0):9.1f} {(o['peak_rss_kb'] - o['base_rss_kb']) / 1024:9.1f} "
              f"{((t['peak_rss_kb'] - t['base_rss_kb']) / 1024 if t else 0):9.1f}  {note}")
    print("ratio = our time / PyTorch time (targets: mlp <= 1.0, cnn <= 1.25); MB = peak RSS of the process; "
          "dMB = peak minus RSS after set-up (the workload's own memory)")
    json.dump(result, open(out, "w"), indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
