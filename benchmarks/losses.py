"""Benchmark contrastkit's losses against pytorch-metric-learning: forward+backward time and peak memory.

Run ``python benchmarks/losses.py`` (``--help`` for the options). Every configuration runs in a fresh
Python subprocess so that its peak memory can be read honestly from the operating system:

    peak = ru_maxrss after one forward+backward  −  ru_maxrss after imports and input creation

(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the process's peak resident set size). Time is the
median over ``--repeats`` further forward+backward passes, in milliseconds.

B is the number of embeddings in the batch (2N for NT-Xent: N pairs of views; B/2 samples × 2 views
for SupCon; labels cycle through 10 classes). For the pair and triplet-margin losses B is the number
of pairs / triplets. pytorch-metric-learning configurations whose memory would exceed ``--skip-gb``
are skipped with the estimate printed instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LOSSES = ("nt_xent", "supcon", "batch_all", "batch_hard", "semihard", "contrastive", "triplet_margin")
N_CLASSES = 10

#: Where the two libraries compute the same quantity; elsewhere only the speed is comparable.
SAME_FORMULA = {
    "nt_xent": "same",
    "supcon": "same",
    "batch_all": "same",
    "batch_hard": "same (MeanReducer)",
    "semihard": "differs: pml keeps every semi-hard negative",
    "contrastive": "differs: pml's hinge is not squared",
    "triplet_margin": "same",
}


# ------------------------------------------------------------------------------------------------
# Worker: one configuration in its own process
# ------------------------------------------------------------------------------------------------


def _build(lib: str, loss: str, b: int, dim: int):
    """Inputs and a zero-argument callable computing the loss (forward only)."""
    import torch

    g = torch.Generator().manual_seed(0)
    z = torch.randn(b, dim, generator=g, requires_grad=True)
    y = torch.arange(b) % N_CLASSES
    if loss in ("contrastive", "triplet_margin"):
        z2 = torch.randn(b, dim, generator=g, requires_grad=True)
        z3 = torch.randn(b, dim, generator=g, requires_grad=True)
        same = torch.randint(0, 2, (b,), generator=g)
    if lib == "contrastkit":
        from contrastkit import losses as L

        fns = {
            "nt_xent": lambda: L.nt_xent_loss(z[: b // 2], z[b // 2 :], 0.5),
            "supcon": lambda: L.supcon_loss(z.view(b // 2, 2, dim), y[: b // 2], 0.1),
            "batch_all": lambda: L.batch_triplet_loss(z, y, 0.2, "all"),
            "batch_hard": lambda: L.batch_triplet_loss(z, y, 0.2, "hard"),
            "semihard": lambda: L.batch_triplet_loss(z, y, 0.2, "semihard"),
            "contrastive": lambda: L.contrastive_loss(z, z2, same, 1.0),
            "triplet_margin": lambda: L.triplet_margin_loss(z, z2, z3, 0.2),
        }
        return fns[loss]
    from pytorch_metric_learning import distances, losses, miners, reducers

    lp = distances.LpDistance(normalize_embeddings=False)
    if loss == "nt_xent":
        f = losses.NTXentLoss(temperature=0.5)
        return lambda: f(z, torch.arange(b // 2).repeat(2))
    if loss == "supcon":
        f = losses.SupConLoss(temperature=0.1)
        # view-major rows, as contrastkit orders them
        return lambda: f(z.view(b // 2, 2, dim).transpose(0, 1).reshape(b, dim), y[: b // 2].repeat(2))
    if loss == "batch_all":
        f = losses.TripletMarginLoss(margin=0.2, distance=lp)
        return lambda: f(z, y)
    if loss == "batch_hard":
        f = losses.TripletMarginLoss(margin=0.2, distance=lp, reducer=reducers.MeanReducer())
        m = miners.BatchHardMiner(distance=lp)
        return lambda: f(z, y, m(z, y))
    if loss == "semihard":
        f = losses.TripletMarginLoss(margin=0.2, distance=lp)
        m = miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard", distance=lp)
        return lambda: f(z, y, m(z, y))
    idx = torch.arange(b)
    if loss == "contrastive":
        f = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, distance=lp)
        s = same.bool()
        pairs = (idx[s], idx[s] + b, idx[~s], idx[~s] + b)
        return lambda: f(torch.cat([z, z2]), indices_tuple=pairs)
    f = losses.TripletMarginLoss(margin=0.2, distance=lp, reducer=reducers.MeanReducer())
    triplets = (idx, idx + b, idx + 2 * b)
    return lambda: f(torch.cat([z, z2, z3]), indices_tuple=triplets)


def worker(lib: str, loss: str, b: int, dim: int, repeats: int, threads: int) -> None:
    import resource

    import torch

    torch.set_num_threads(threads)
    fn = _build(lib, loss, b, dim)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn().backward()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn().backward()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"ms": statistics.median(times), "peak_mib": peak_kib / 1024}))


# ------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------


def pml_estimate_gb(loss: str, b: int) -> float:
    """Lower bound on what pytorch-metric-learning allocates at once (GB), from its algorithm."""
    k = b // N_CLASSES  # samples per class
    if loss == "nt_xent":  # a float32 [anchors, negative pairs] matrix: B × B(B−2)
        return 4 * b * b * (b - 2) / 1e9
    if loss in ("batch_all", "semihard"):  # a bool B×B×B mask, then 3 int64 indices per valid triplet
        return (b**3 + 24 * b * (k - 1) * (b - k)) / 1e9
    return 0.0


def run_config(lib: str, loss: str, b: int, args: argparse.Namespace) -> dict[str, float] | str:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, loss, str(b)]
    cmd += ["--dim", str(args.dim), "--repeats", str(args.repeats), "--threads", str(args.threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"timeout (> {args.timeout} s)"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed: {last[:60]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(result: dict[str, float] | str) -> tuple[str, str]:
    if isinstance(result, str):
        return result, ""
    return f"{result['ms']:.1f}", f"{result['peak_mib']:.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 2048], help="batch sizes B")
    p.add_argument("--repeats", type=int, default=5, help="timed forward+backward passes (median)")
    p.add_argument("--dim", type=int, default=128, help="embedding dimension D")
    p.add_argument("--big", type=int, default=8192, help="batch size of the memory check (0: skip it)")
    p.add_argument("--memory-limit-gib", type=float, default=4.0, help="memory target at --big")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (1 is steadiest on a busy machine)")
    p.add_argument("--skip-gb", type=float, default=6.0, help="skip pml configurations estimated above this")
    p.add_argument("--timeout", type=int, default=300, help="seconds allowed per configuration")
    p.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES)
    p.add_argument("--worker", nargs=3, metavar=("LIB", "LOSS", "B"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        lib, loss, b = args.worker
        worker(lib, loss, int(b), args.dim, args.repeats, args.threads)
        return 0

    import pytorch_metric_learning
    import torch

    print(
        f"contrastkit loss benchmark: torch {torch.__version__}, pytorch-metric-learning "
        f"{pytorch_metric_learning.__version__}, {args.threads} thread(s), D={args.dim}, "
        f"median of {args.repeats} forward+backward passes after one warm-up pass."
    )
    print("Peak memory: each configuration runs in a fresh process; peak = ru_maxrss after the warm-up pass")
    print("minus ru_maxrss after imports and input creation (MiB). ck = contrastkit, pml = pytorch-metric-learning.")
    print()
    header = f"{'loss':<15}{'B':>6} {'ck ms':>10} {'ck MiB':>8} {'pml ms':>26} {'pml MiB':>8} {'speed-up':>9}  formula"
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, int], tuple[dict[str, float] | str, dict[str, float] | str]] = {}
    for loss in args.losses:
        for b in args.sizes:
            ck = run_config("contrastkit", loss, b, args)
            est = pml_estimate_gb(loss, b)
            pml = f"skipped (est. >= {est:.0f} GB)" if est > args.skip_gb else run_config("pml", loss, b, args)
            results[(loss, b)] = (ck, pml)
            ratio = f"{pml['ms'] / ck['ms']:.1f}x" if isinstance(ck, dict) and isinstance(pml, dict) else "-"
            (ck_ms, ck_mb), (pml_ms, pml_mb) = fmt(ck), fmt(pml)
            print(f"{loss:<15}{b:>6} {ck_ms:>10} {ck_mb:>8} {pml_ms:>26} {pml_mb:>8} {ratio:>9}  {SAME_FORMULA[loss]}")
            sys.stdout.flush()

    print()
    print("Targets")
    verdicts = []

    def verdict(name: str, ok: bool, detail: str) -> None:
        verdicts.append(ok)
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")

    if ("nt_xent", 512) in results:
        ck, pml = results[("nt_xent", 512)]
        if isinstance(ck, dict) and isinstance(pml, dict):
            r = pml["ms"] / ck["ms"]
            verdict("NT-Xent >= 100x faster than pml at 2N=512", r >= 100, f"{r:.0f}x")
        else:
            verdict("NT-Xent >= 100x faster than pml at 2N=512", False, f"could not measure ({ck}, {pml})")
    for loss in ("supcon", "batch_hard", "semihard"):
        for b in args.sizes:
            if (loss, b) not in results:
                continue
            ck, pml = results[(loss, b)]
            name = f"{loss} at least as fast as pml at B={b}"
            if not isinstance(ck, dict):
                verdict(name, False, f"contrastkit {ck}")
            elif not isinstance(pml, dict):
                verdict(name, True, f"pml cannot run it: {pml}; contrastkit {ck['ms']:.0f} ms")
            else:
                verdict(name, ck["ms"] <= pml["ms"], f"{ck['ms']:.1f} ms vs {pml['ms']:.1f} ms")

    if args.big:
        limit_mib = args.memory_limit_gib * 1024
        print()
        print(f"Memory at B={args.big} (contrastkit only; one process per loss, same peak-RSS method)")
        for loss in args.losses:
            big_args = argparse.Namespace(**{**vars(args), "repeats": 1})
            r = run_config("contrastkit", loss, args.big, big_args)
            if isinstance(r, dict):
                ok = r["peak_mib"] <= limit_mib
                detail = f"peak {r['peak_mib']:.0f} MiB, {r['ms'] / 1000:.1f} s per forward+backward"
            else:
                ok, detail = False, r
            verdict(f"{loss} at B={args.big} within {args.memory_limit_gib:g} GiB", ok, detail)

    print()
    print(f"{sum(verdicts)}/{len(verdicts)} targets met")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
