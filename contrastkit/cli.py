"""The command line: ``python -m contrastkit {train,compare,evaluate,list}``.

- ``train --method supcon [--epochs 5 --lr 1e-3 ...]`` trains one recipe into a new run directory
  (``runs/<method>-<timestamp>``); ``--out DIR --resume`` continues an interrupted run.
- ``compare [--methods ...] [--quick]`` trains each method with its default recipe and writes a
  report (``report.md``, ``leaderboard.csv``, ``umap_grid.png``) beside the methods' own runs.
- ``evaluate RUN_DIR`` re-evaluates a saved run; ``list`` prints the runs with their key metrics.

Exit codes: 0 success, 1 an error (the message says what to fix), 2 a usage error, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

METHODS = ("siamese", "triplet", "simclr", "supcon")
DATA_SOURCES = ("auto", "sample", "full")
#: CLI option -> (config field, type). An option the chosen method's config lacks is refused.
RECIPE_OPTIONS: dict[str, tuple[str, type]] = {
    "--epochs": ("epochs", int),
    "--batch-size": ("batch_size", int),
    "--lr": ("lr", float),
    "--weight-decay": ("weight_decay", float),
    "--temperature": ("temperature", float),
    "--margin": ("margin", float),
    "--embedding-dim": ("embedding_dim", int),
    "--strategy": ("strategy", str),
    "--seed": ("seed", int),
}
#: ``compare --quick``: images and epochs per method (a smoke test of the whole pipeline, not a benchmark).
QUICK_TRAIN, QUICK_TEST, QUICK_EPOCHS = 2000, 500, 1
#: The training issue's quality targets for the default recipes on the bundled sample (kNN accuracy).
SAMPLE_TARGETS = {"siamese": 0.980, "triplet": 0.988, "simclr": 0.975, "supcon": 0.990}
#: Leaderboard columns: (metrics key, header, format).
COLUMNS = (
    ("knn_accuracy", "kNN", "pct"),
    ("linear_probe_accuracy", "linear probe", "pct"),
    ("precision_at_1", "P@1", "pct"),
    ("map_at_r", "MAP@R", "pct"),
    ("verification_auc", "verif. AUC", "f3"),
    ("alignment", "alignment", "f3"),
    ("uniformity", "uniformity", "f3"),
    ("train_time_s", "train time", "time"),
)


# ----------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m contrastkit``."""
    parser = argparse.ArgumentParser(
        prog="contrastkit",
        description="Train, compare and inspect contrastive-learning runs on MNIST.",
        epilog="Runs are written under runs/ by default; `contrastkit list` shows them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    train = sub.add_parser(
        "train",
        help="train one method into a run directory",
        description="Train one method (its default recipe, changed by the options below) into a run directory.",
    )
    train.add_argument("--method", choices=METHODS, help="which recipe (required unless --resume)")
    recipe = train.add_argument_group("recipe", "fields of the method's config; an option the method lacks is refused")
    for option, (name, kind) in RECIPE_OPTIONS.items():
        extra: dict[str, Any] = {"choices": ("all", "hard", "semihard")} if name == "strategy" else {}
        recipe.add_argument(option, dest=name, type=kind, default=None, metavar=name.upper(), **extra)
    recipe.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other config field, e.g. --set samples_per_class=8 (repeatable)",
    )
    _add_data_options(train)
    train.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    train.add_argument("--out", type=Path, help="run directory (default: runs/<method>-<timestamp>)")
    train.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    train.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars and projector")
    train.add_argument("--no-figures", dest="figures", action="store_false", help="skip history.png and umap.png")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_cmd_train, parser=train)

    compare = sub.add_parser(
        "compare",
        help="train every method and write a comparison report",
        description="Train each method with its default recipe on the same data and write report.md, "
        "leaderboard.csv and umap_grid.png into a new directory (each method's run inside it).",
    )
    compare.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        metavar="METHOD",
        help=f"subset of {', '.join(METHODS)} (default: all)",
    )
    _add_data_options(compare)
    compare.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_EPOCHS} epoch(s) on {QUICK_TRAIN}/{QUICK_TEST} images: checks the pipeline in a minute or two",
    )
    compare.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    compare.add_argument("--seed", type=int, default=None, help="training seed for every method (default: recipe's)")
    compare.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    compare.add_argument("--out", type=Path, help="output directory (default: runs/compare-<timestamp>)")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")
    compare.set_defaults(func=_cmd_compare, parser=compare)

    evaluate = sub.add_parser(
        "evaluate",
        help="re-evaluate a saved run",
        description="Re-evaluate a saved run: rebuild its encoder from model.pt, re-embed its data, "
        "rewrite metrics.json.",
    )
    evaluate.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    evaluate.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    evaluate.set_defaults(func=_cmd_evaluate, parser=evaluate)

    listing = sub.add_parser("list", help="list runs with their key metrics")
    listing.add_argument("--root", type=Path, default=Path("runs"), help="where to look (default: runs)")
    listing.set_defaults(func=_cmd_list, parser=listing)
    return parser


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        choices=DATA_SOURCES,
        default=None,
        help="auto (default: the full MNIST when downloaded, else the bundled sample), sample or full",
    )
    # testing and quick experiments: a class-stratified subset of the data
    parser.add_argument("--limit-train", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--limit-test", type=int, default=None, help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (argparse's usage errors give 2)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures go to files; never open a window
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = argv
        return args.func(args)
    except SystemExit as stop:  # argparse (usage errors, --help)
        return stop.code if isinstance(stop.code, int) else 1
    except KeyboardInterrupt:
        print("\ncontrastkit: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        print(f"contrastkit: error: {err}", file=sys.stderr)
        return 1


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input or a bad run, reported as a message rather than a traceback."""
    from contrastkit.data import DataIntegrityError, DownloadError
    from contrastkit.train import TrainingDivergedError

    return (ValueError, DataIntegrityError, DownloadError, TrainingDivergedError)


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------


def _recipe_overrides(args: argparse.Namespace, field_types: dict[str, type]) -> dict[str, Any]:
    """Recipe values given on the command line, checked against the method's config fields."""
    parser: argparse.ArgumentParser = args.parser
    method = args.method
    overrides: dict[str, Any] = {}
    for option, (name, _) in RECIPE_OPTIONS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in field_types:
            parser.error(f"{option} does not apply to {method}: its recipe fields are {', '.join(field_types)}")
        overrides[name] = value
    for item in args.overrides:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            parser.error(f"--set expects FIELD=VALUE, got {item!r}")
        if name not in field_types:
            parser.error(
                f"--set {name}: the {method} recipe has no such field; its fields are {', '.join(field_types)}"
            )
        overrides[name] = _parse_value(parser, name, text.strip(), field_types[name])
    return overrides


def _parse_value(parser: argparse.ArgumentParser, name: str, text: str, kind: type) -> Any:
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if kind in (int, float, str):
            return kind(text)
        return json.loads(text)
    except (ValueError, json.JSONDecodeError):
        parser.error(f"--set {name}={text}: expected a {kind.__name__}")


def _field_types(config) -> dict[str, type]:
    from contrastkit.runs import recipe_fields

    return {name: type(getattr(config, name)) for name in recipe_fields(config)}


def _cmd_train(args: argparse.Namespace) -> int:
    from contrastkit import runs

    parser: argparse.ArgumentParser = args.parser
    if args.resume:
        if args.out is None:
            parser.error("--resume needs --out RUN_DIR: the run to continue")
        record = runs.load(args.out).config
        if args.method is not None and args.method != record["method"]:
            raise ValueError(f"{args.out} holds a {record['method']} run, not {args.method}")
        args.method = record["method"]
        config = runs.config_from_record(record)
        for name, value in _recipe_overrides(args, _field_types(config)).items():
            if getattr(config, name) != value:
                raise ValueError(
                    f"{name}={value!r} differs from the run's {name}={getattr(config, name)!r}: with --resume the "
                    "recipe is read from config.json; omit the recipe options or start a new run"
                )
        stored = record.get("data", {})
        for option, given, kept in (
            ("--data", args.data, (stored.get("requested"), stored.get("source"))),
            ("--limit-train", args.limit_train, (stored.get("limit_train"),)),
            ("--limit-test", args.limit_test, (stored.get("limit_test"),)),
        ):
            if given is not None and given not in kept:
                raise ValueError(f"{option} {given} differs from the run's data ({kept[0]}); omit it with --resume")
        data, data_record = runs.data_from_record(stored), stored
        tensorboard = args.tensorboard or bool(record.get("tensorboard"))
        run_dir = args.out
    else:
        if args.method is None:
            parser.error("--method is required (one of " + ", ".join(METHODS) + ")")
        default = runs.make_config(args.method)
        config = runs.make_config(args.method, **_recipe_overrides(args, _field_types(default)))
        if args.out is not None:
            runs.ensure_fresh_dir(args.out)  # refuse before loading data and training
        data, data_record = runs.prepare_data(args.data or "auto", args.limit_train, args.limit_test)
        run_dir = args.out if args.out is not None else runs.new_run_dir("runs", args.method)
        tensorboard = args.tensorboard

    print(f"contrastkit: {'resuming' if args.resume else 'training'} {config.method} into {run_dir}")
    print(f"  data: {data_record['source']} ({data_record['n_train']} train / {data_record['n_test']} test)")
    print(f"  recipe: {_recipe_summary(config)}")
    try:
        run = runs.train_run(
            run_dir,
            config,
            data,
            data_record,
            device=args.device,
            resume=args.resume,
            tensorboard=tensorboard,
            progress=not args.quiet,
            figures=args.figures,
        )
    except KeyboardInterrupt:
        _print_interrupted(run_dir, config)
        return 130
    print(f"\n{run.method} finished: {_metrics_line(run.metrics)}")
    print(f"run directory: {run.path}")
    if tensorboard:
        print(f"TensorBoard: tensorboard --logdir {shlex.quote(str(run.path / runs.TENSORBOARD_DIR))}")
    return 0


def _recipe_summary(config) -> str:
    from contrastkit.runs import recipe_fields

    return ", ".join(f"{name}={getattr(config, name)}" for name in recipe_fields(config))


def _print_interrupted(run_dir: Path, config) -> None:
    from contrastkit import runs

    path = Path(run_dir) / runs.HISTORY_FILE
    done = len(runs.history_from_jsonl(path.read_text(encoding="utf-8")).get("epoch", ())) if path.is_file() else 0
    total = getattr(config, "epochs", "?")
    print(
        f"\ncontrastkit: interrupted after {done} of {total} epoch(s). The checkpoint and metrics.jsonl in "
        f"{run_dir} hold every finished epoch; continue with:\n"
        f"  python -m contrastkit train --out {shlex.quote(str(run_dir))} --resume",
        file=sys.stderr,
    )


# ----------------------------------------------------------------------------------------------
# evaluate and list
# ----------------------------------------------------------------------------------------------


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from contrastkit import runs

    print(f"contrastkit: re-evaluating {args.run_dir}")
    run = runs.evaluate_run(args.run_dir, device=args.device)
    for key, value in run.metrics.items():
        print(f"  {key:<24}{_fmt(key, value)}")
    print(f"wrote {run.path / runs.METRICS_FILE}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from contrastkit import runs

    found = runs.list_runs(args.root)
    if not found:
        print(f"no runs under {args.root} (train one with `python -m contrastkit train --method supcon`)")
        return 0
    rows = []
    for run in found:
        data = run.config.get("data", {})
        done = len(run.history.get("epoch", ()))
        total = run.config.get("config", {}).get("epochs", "?")
        rows.append(
            [
                _relative(run.path, args.root),
                run.method,
                f"{data.get('source', '?')} {data.get('n_train', '?')}/{data.get('n_test', '?')}",
                f"{done}/{total}",
                _fmt("knn_accuracy", run.metrics.get("knn_accuracy")),
                _fmt("linear_probe_accuracy", run.metrics.get("linear_probe_accuracy")),
                _fmt("train_time_s", run.metrics.get("train_time_s")) if run.finished else "unfinished",
            ]
        )
    print(_table(["run", "method", "data", "epochs", "kNN", "linear probe", "time"], rows))
    return 0


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------------------------


def _cmd_compare(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from contrastkit import runs
    from contrastkit.evaluate import evaluate_embeddings
    from contrastkit.utils import pick_device, quick_mode

    quick = args.quick or quick_mode()
    methods = list(dict.fromkeys(args.methods))  # keep order, drop repeats
    overrides: dict[str, Any] = {}
    if args.epochs is not None or quick:
        overrides["epochs"] = args.epochs if args.epochs is not None else QUICK_EPOCHS
    if args.seed is not None:
        overrides["seed"] = args.seed
    configs = {m: runs.make_config(m, **overrides) for m in methods}  # validate everything before training
    limit_train = args.limit_train if args.limit_train is not None else (QUICK_TRAIN if quick else None)
    limit_test = args.limit_test if args.limit_test is not None else (QUICK_TEST if quick else None)
    out = runs.ensure_fresh_dir(args.out) if args.out is not None else runs.new_run_dir("runs", "compare")

    start = time.perf_counter()
    data, data_record = runs.prepare_data(args.data or "auto", limit_train, limit_test)
    sizes = f"{data_record['n_train']} train / {data_record['n_test']} test"
    print(
        f"contrastkit compare: {', '.join(methods)} on {data_record['source']} ({sizes}){' [quick]' * quick} -> {out}"
    )
    if data_record["source"] == "full" and pick_device(args.device).type == "cpu" and limit_train is None:
        print("  note: on a CPU the full MNIST takes about 7 times as long as the sample (--data sample)")
    print("raw-pixel baseline ...", flush=True)
    x_train = data.x_train.flatten(1)  # [N, 784]
    x_test = data.x_test.flatten(1)  # [M, 784]
    baseline = evaluate_embeddings(x_train, data.y_train, x_test, data.y_test)
    print(f"  raw pixels: {_metrics_line(baseline)}")

    results: dict[str, Any] = {}
    for i, method in enumerate(methods, 1):
        config = configs[method]
        print(f"[{i}/{len(methods)}] {method}: {config.epochs} epoch(s) ...", flush=True)
        try:
            run = runs.train_run(
                out / method, config, data, data_record, device=args.device, progress=not args.quiet, figures=True
            )
        except KeyboardInterrupt:
            print(
                f"\ncontrastkit: interrupted while training {method}. Its checkpoint is in {out / method}; "
                f"continue that run with `python -m contrastkit train --out {shlex.quote(str(out / method))} --resume`",
                file=sys.stderr,
            )
            return 130
        results[method] = run
        print(f"  {method}: {_metrics_line(run.metrics)}", flush=True)

    print("figures and report ...", flush=True)
    from contrastkit import viz

    grid = {"raw pixels": np.asarray(viz.project(x_test.numpy(), method="umap", seed=0))}
    grid.update({m: r.points for m, r in results.items() if r.points is not None})
    ncols = -(-len(grid) // 2) if len(grid) > 4 else None  # 5 panels: 3 + 2 rather than 4 + 1
    runs.save_figure(viz.plot_embedding_grid(grid, data.y_test.numpy(), ncols=ncols), out / "umap_grid.png")

    leaderboard = [("raw pixels", baseline, None)] + [(m, r.metrics, r) for m, r in results.items()]
    from contrastkit.utils import atomic_write_text

    atomic_write_text(out / "leaderboard.csv", _leaderboard_csv(leaderboard))
    total = time.perf_counter() - start
    meta = {
        "methods": methods,
        "quick": quick,
        "data": data_record,
        "device": f"{pick_device(args.device)} ({torch.get_num_threads()} threads)",
        "total_time_s": total,
        "versions": runs.library_versions(),
        "command": "python -m contrastkit " + shlex.join(args.argv),
    }
    atomic_write_text(out / "compare.json", json.dumps(meta, indent=2) + "\n")
    atomic_write_text(out / "report.md", _report(leaderboard, meta, baseline))
    print(f"\n{_table(['method', *(c[1] for c in COLUMNS)], _leaderboard_rows(leaderboard))}")
    print(f"\ndone in {total / 60:.1f} min; report: {out / 'report.md'}")
    return 0


def _leaderboard_rows(leaderboard) -> list[list[str]]:
    return [[name, *(_fmt(key, metrics.get(key)) for key, _, _ in COLUMNS)] for name, metrics, _ in leaderboard]


def _leaderboard_csv(leaderboard) -> str:
    keys = [
        "knn_accuracy",
        "linear_probe_accuracy",
        "precision_at_1",
        "map_at_r",
        "r_precision",
        "verification_auc",
        "verification_eer",
        "alignment",
        "uniformity",
        "train_time_s",
        "epochs",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", *keys])
    for name, metrics, _ in leaderboard:
        writer.writerow([name, *(_csv_value(metrics.get(key)) for key in keys)])
    return buffer.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _report(leaderboard, meta: dict[str, Any], baseline: dict[str, float]) -> str:
    data = meta["data"]
    check_targets = not meta["quick"] and data["source"] == "sample" and data.get("limit_train") is None
    header = ["method", "labels used", *(c[1] for c in COLUMNS[:1]), "kNN vs pixels", *(c[1] for c in COLUMNS[1:])]
    header += ["kNN target"] if check_targets else []
    rows = []
    for name, metrics, _ in leaderboard:
        row = [
            name,
            "no" if name in ("simclr", "raw pixels") else "yes",
            _fmt("knn_accuracy", metrics.get("knn_accuracy")),
        ]
        row.append("" if name == "raw pixels" else _points(metrics["knn_accuracy"] - baseline["knn_accuracy"]))
        row += [_fmt(key, metrics.get(key)) for key, _, _ in COLUMNS[1:]]
        if check_targets:
            row.append(_target(name, metrics, baseline))
        rows.append(row)
    trained = [(name, metrics) for name, metrics, run in leaderboard if run is not None]
    best, best_metrics = max(trained, key=lambda item: item[1]["knn_accuracy"])
    scope = "quick mode: a pipeline check with few epochs on a subset, not a benchmark" if meta["quick"] else ""
    scope = scope or ("a class-stratified subset" if data.get("limit_train") or data.get("limit_test") else "")
    lines = [
        "# contrastkit comparison report",
        "",
        f"Data: **{data['source']}** MNIST, {data['n_train']:,} training / {data['n_test']:,} test images"
        + (f" (**{scope}**)" if scope else "")
        + f". Device: {meta['device']}. Total time: {meta['total_time_s'] / 60:.1f} min.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "## Leaderboard",
        "",
        _markdown_table(header, rows),
        "",
        "Every metric is measured on the **test** images with the frozen encoder; percentages are accuracies. "
        f"Best kNN: **{best}**, {_fmt('knn_accuracy', best_metrics['knn_accuracy'])} "
        f"({_points(best_metrics['knn_accuracy'] - baseline['knn_accuracy'])} against raw pixels).",
        "",
        "## How to read it",
        "",
        "- **raw pixels** is the baseline: the 784 pixel values used directly as the embedding. A method "
        "is only worth its training if it beats this row.",
        "- **kNN**: a test digit gets the majority label of its 5 nearest training embeddings (cosine). "
        "The most direct measure of whether same-digit images ended up close together.",
        "- **linear probe**: a logistic-regression layer trained on the frozen embeddings. It asks whether "
        "the classes are *linearly separable*, a weaker demand than being clustered; SimCLR, which never "
        "sees a label, is usually judged by this number.",
        "- **P@1** and **MAP@R** (Musgrave et al. 2020) are retrieval scores within the test set: is the "
        "nearest other image the same digit, and how high do all R same-digit images rank among the first "
        "R results. MAP@R is the strictest column and separates methods that kNN calls a tie.",
        '- **verif. AUC**: how well the cosine distance alone tells "same digit" from "different digit" '
        "on 2,000 test pairs (1.0 = perfectly, 0.5 = chance).",
        "- **alignment** (lower is better): mean squared distance between normalised embeddings of "
        "same-digit pairs. **uniformity** (lower, i.e. more negative, is better): how evenly the normalised "
        "embeddings spread over the sphere (Wang and Isola 2020). Good embeddings have both; collapse shows "
        "up as excellent alignment with poor uniformity.",
        "- **labels used**: Siamese, triplet and SupCon train with the digit labels, SimCLR only with "
        "augmented views of each image; compare SimCLR with the raw-pixel row rather than with SupCon.",
        "- **train time** is the wall time of the training epochs alone (evaluation excluded), on the "
        "device above; the number of epochs differs between recipes.",
    ]
    if check_targets:
        lines.append(
            "- **kNN target**: the quality bar of the default recipes on the bundled sample (Siamese ≥ 98.0%, "
            "triplet ≥ 98.8%, SupCon ≥ 99.0%, SimCLR ≥ 97.5% and 1.5 points above raw pixels)."
        )
    lines += [
        "",
        "## The embeddings, side by side",
        "",
        "UMAP projections of the test embeddings, coloured by digit. UMAP keeps neighbourhoods but distorts "
        "distances *between* clusters and their sizes: read it for which digits mix, not for how far apart "
        "clusters are.",
        "",
        "![UMAP of each embedding](umap_grid.png)",
        "",
        "## Training curves",
        "",
    ]
    for name, _, run in leaderboard:
        if run is not None:
            lines += [f"### {name}", "", f"![{name} training history]({name}/history.png)", ""]
            lines += [f"Run directory: `{run.path}` (`python -m contrastkit evaluate {run.path}` re-evaluates it).", ""]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines += ["## Environment", "", versions, ""]
    return "\n".join(lines)


def _points(delta: float) -> str:
    return f"{100 * delta:+.2f} pts"


def _target(name: str, metrics: dict[str, float], baseline: dict[str, float]) -> str:
    goal = SAMPLE_TARGETS.get(name)
    if goal is None:
        return ""
    knn = metrics.get("knn_accuracy", 0.0)
    ok = knn >= goal
    if name == "simclr":
        ok = ok and knn >= baseline["knn_accuracy"] + 0.015
    return f"{'met' if ok else 'MISSED'} (≥ {goal:.1%})"


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_accuracy") or key in ("precision_at_1", "map_at_r", "r_precision"):
        return f"{100 * value:.2f}%"
    if key.endswith("_time_s"):
        return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _metrics_line(metrics: dict[str, Any]) -> str:
    parts = [f"{label} {_fmt(key, metrics[key])}" for key, label, _ in COLUMNS[:4] if key in metrics]
    if "train_time_s" in metrics:
        parts.append(f"trained in {_fmt('train_time_s', metrics['train_time_s'])}")
    return ", ".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
