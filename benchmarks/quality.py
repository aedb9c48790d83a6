"""Quality benchmark: train every recipe with its defaults and check the quality targets.

Prints one table: the raw-pixel kNN baseline (k=5, cosine), then for each method the kNN accuracy,
linear-probe accuracy, P@1, MAP@R, alignment, uniformity (all from
``contrastkit.evaluate.evaluate_embeddings`` on the full train/test embeddings), the training wall
time, the training throughput in images/s (every augmented view or pair member counts), and
PASS/FAIL for each target.

Targets on the bundled sample (8,000/2,000) with 2 CPU cores, each recipe in at most 4 minutes:
Siamese kNN >= 98.0%; triplet kNN >= 98.8%; SupCon kNN >= 99.0%; SimCLR (no labels) kNN >= 97.5%,
at least 1.5 points above the raw-pixel baseline, and linear probe >= 97.5%.
With ``--full`` (the full 60,000/10,000 MNIST, ``make data``) on a GPU: SupCon kNN >= 99.5% and
SimCLR linear probe >= 98.5%, each in at most 2 minutes.

Usage::

    .venv/bin/python benchmarks/quality.py                      # all four, sample split
    .venv/bin/python benchmarks/quality.py --methods simclr supcon --threads 2
    .venv/bin/python benchmarks/quality.py --full               # full MNIST, whatever device is present
    .venv/bin/python benchmarks/quality.py --quick              # smoke run: small subset, one epoch
    .venv/bin/python benchmarks/quality.py --methods simclr --set epochs=12 --set temperature=0.2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch

import contrastkit as ck
from contrastkit.data import ClassBalancedBatchSampler
from contrastkit.evaluate import embed, evaluate_embeddings, knn_accuracy
from contrastkit.runs.targets import CPU_BUDGET_S, GPU_BUDGET_S, check_targets
from contrastkit.train import CONFIGS, METHODS, parse_overrides, train


def images_per_epoch(config, labels: torch.Tensor) -> int:
    """Images pushed through the encoder per epoch (pair members and augmented views included)."""
    n_train = labels.shape[0]
    if config.method == "triplet":
        sampler = ClassBalancedBatchSampler(labels, config.classes_per_batch, config.k, seed=config.seed)
        return len(sampler) * config.batch_size
    views = {"siamese": 2, "simclr": 2}.get(config.method) or config.n_views
    size = min(config.batch_size, n_train)
    return views * (n_train // size) * size


def fmt(value: float, pct: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.2f}" if pct else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="recipes to train")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="full MNIST (60,000/10,000) with the GPU targets")
    mode.add_argument("--quick", action="store_true", help="smoke run: 1,000/500 images, one epoch, no targets")
    parser.add_argument("--device", default=None, help="'cpu', 'cuda', ... (default: automatic)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field for every recipe that has it (repeatable)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="override every recipe's seed")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--progress", action="store_true", help="show per-epoch progress bars")
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = ck.pick_device(args.device)
    data = ck.data.load_mnist(source="full" if args.full else "sample", verbose=False)
    if args.quick:
        data = data.subset(1000, 500, seed=0)
    overrides = list(args.overrides)
    if args.quick and not any(item.partition("=")[0].strip() == "epochs" for item in overrides):
        overrides.append("epochs=1")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    budget = GPU_BUDGET_S if args.full else CPU_BUDGET_S
    n_train, n_test = data.x_train.shape[0], data.x_test.shape[0]
    print(
        f"MNIST {data.source}: {n_train} train / {n_test} test, device {device}, "
        f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}",
        flush=True,
    )

    flat = torch.nn.Flatten()
    raw_knn = knn_accuracy(embed(flat, data.x_train), data.y_train, embed(flat, data.x_test), data.y_test)
    rows = [{"method": "raw pixels", "knn_accuracy": raw_knn}]
    results = {"raw_knn": raw_knn, "methods": {}}
    all_pass = True
    for method in args.methods:
        default = CONFIGS[method]()
        try:  # an option of another recipe is skipped
            config = dataclasses.replace(default, **parse_overrides(default, overrides, skip_unknown=True))
        except ValueError as err:
            raise SystemExit(f"--set: {err}") from None
        print(f"training {method}: {config}", flush=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model, history = train(config, data, device=device, progress=args.progress)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        train_time = sum(history["wall_time"]) - sum(history["eval_time"])
        ips = config.epochs * images_per_epoch(config, data.y_train) / max(train_time, 1e-9)
        train_emb = embed(model, data.x_train)
        test_emb = embed(model, data.x_test)
        metrics = evaluate_embeddings(train_emb, data.y_train, test_emb, data.y_test, seed=0)
        metrics["knn_gain"] = metrics["knn_accuracy"] - raw_knn
        checks = []
        for target, ok in check_targets(method, metrics, raw_knn, full=args.full):
            checks.append(f"{target.label}:{'PASS' if ok else 'FAIL'}")
            all_pass &= ok or args.quick
        ok_time = wall <= budget
        checks.append(f"time<={budget:.0f}s:{'PASS' if ok_time else 'FAIL'}")
        all_pass &= ok_time or args.quick
        row = {"method": method, **metrics, "wall_s": wall, "train_s": train_time, "images_per_s": ips}
        row["checks"] = " ".join(checks)
        rows.append(row)
        results["methods"][method] = {
            "config": config.to_dict(),
            "metrics": metrics,
            "wall_s": wall,
            "train_s": train_time,
            "images_per_s": ips,
            "history": history,
            "checks": checks,
        }
        print(
            f"  {method}: kNN {fmt(metrics['knn_accuracy'])}  probe {fmt(metrics['linear_probe_accuracy'])}  "
            f"wall {wall:.1f}s  {ips:.0f} img/s  per-epoch kNN {[round(v, 4) for v in history['knn_accuracy']]}",
            flush=True,
        )

    header = (
        f"{'method':<11} {'kNN%':>6} {'probe%':>6} {'P@1%':>6} {'MAP@R%':>6} {'align':>6} {'unif':>6} "
        f"{'wall s':>7} {'img/s':>6}  targets"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        if r["method"] == "raw pixels":
            print(f"{'raw pixels':<11} {fmt(r['knn_accuracy']):>6}")
            continue
        print(
            f"{r['method']:<11} {fmt(r['knn_accuracy']):>6} {fmt(r['linear_probe_accuracy']):>6} "
            f"{fmt(r['precision_at_1']):>6} {fmt(r['map_at_r']):>6} {fmt(r['alignment'], False):>6} "
            f"{fmt(r['uniformity'], False):>6} {r['wall_s']:>7.1f} {r['images_per_s']:>6.0f}  {r['checks']}"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    if args.quick:
        print("\nquick mode: smoke run only, targets not enforced")
        return 0
    print(f"\n{'ALL TARGETS MET' if all_pass else 'SOME TARGETS MISSED'}")
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
