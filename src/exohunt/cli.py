"""The ``exohunt`` command. The only module that prints: it parses, calls, and reports."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from exohunt._version import __version__
from exohunt.errors import DataError, ExohuntError

log = logging.getLogger("exohunt")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _add_dataset(p: argparse.ArgumentParser) -> None:
    """The dataset, as an argument or as the original design's ``--dataset``: either works."""
    help = "data file or folder (default: the bundled Kepler KOI table)"
    p.add_argument("dataset_arg", nargs="?", metavar="DATASET", help=help)
    p.add_argument("--dataset", help=f"{help}; the same as DATASET")


def _resolve_dataset(args) -> None:
    """One ``args.dataset`` from DATASET and ``--dataset``; refuses two different ones."""
    if not hasattr(args, "dataset_arg"):
        return
    given = {v for v in (args.dataset_arg, args.dataset) if v}
    if len(given) > 1:
        raise ExohuntError(
            f"two datasets given: {args.dataset_arg} and --dataset {args.dataset} (give one)"
        )
    args.dataset = given.pop() if given else None


def _add_data_options(p: argparse.ArgumentParser, dataset_required: bool = False) -> None:
    p.add_argument("--format", default="auto", help="input format (default: detect from content)")
    p.add_argument("--label-column", default="label", help="label column of a generic CSV")
    p.add_argument(
        "--positive-labels", type=_csv_list, help="comma-separated label values meaning planet"
    )
    p.add_argument(
        "--negative-labels", type=_csv_list, help="comma-separated label values meaning not planet"
    )
    p.add_argument("--join", help="a second table joined on shared keys (e.g. DR24 stellar)")
    p.add_argument("--labels", help="labels CSV for light-curve files or folders")


def _add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--test-size", type=float, default=0.2, help="share of stars held out for test")
    p.add_argument(
        "--val-size", type=float, default=0.2, help="share of training stars for validation"
    )
    p.add_argument("--random-state", type=int, default=42)
    p.add_argument("--no-flux-features", action="store_true", help="ignore light curves")
    p.add_argument("--epochs", type=int, default=50, help="network epochs (nn, cnn)")
    p.add_argument("--batch-size", type=int, default=64, help="network batch size (nn, cnn)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="network learning rate")
    p.add_argument("--n-jobs", type=int, default=-1, help="CPU cores for tree models (-1: all)")
    p.add_argument(
        "--review-pages",
        type=int,
        help="test rows drawn for review per group: confident planets and non-planets, false "
        "positives, missed planets (default: 2, or $EXOHUNT_REVIEW_PAGES; 0: none)",
    )


def _add_tracking_options(p: argparse.ArgumentParser, switch: bool = True) -> None:
    p.add_argument(
        "--tracking-uri",
        help="MLflow store: sqlite:///path.db, http://server:5000, or a folder "
        "(default: $MLFLOW_TRACKING_URI, else ./mlruns)",
    )
    if switch:
        p.add_argument(
            "--use-mlflow",
            dest="use_mlflow",
            action="store_true",
            default=True,
            help="record the run in MLflow (the default)",
        )
        p.add_argument("--no-mlflow", dest="use_mlflow", action="store_false", help="do not track")
        p.add_argument(
            "--experiment-name", default="exoplanet-detection", help="MLflow experiment name"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="exohunt", description="Train and track exoplanet-detection models.")
    parser.add_argument("--version", action="version", version=f"exohunt {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors and results")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train one model and save it")
    _add_dataset(p)
    p.add_argument("--model", default="random_forest", help="random_forest, xgboost, nn or cnn")
    p.add_argument("--output", help="output directory (default: models/<model>_<time>)")
    p.add_argument("--cv", type=int, help="also run K-fold cross-validation grouped by star")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --output")
    _add_data_options(p)
    _add_train_options(p)
    _add_tracking_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("experiments", help="train several models side by side, register the best")
    _add_dataset(p)
    p.add_argument(
        "--models",
        nargs="+",
        default=["random_forest", "xgboost", "nn"],
        help="models to compare (rf and xgb accepted)",
    )
    p.add_argument("--output", help="output directory (default: models/experiments_<time>)")
    _add_data_options(p)
    _add_train_options(p)
    _add_tracking_options(p)
    p.add_argument(
        "--ui", action="store_true", help="then serve the MLflow UI on the runs (Ctrl-C stops it)"
    )
    p.add_argument("--port", type=int, default=5000, help="the UI's port, with --ui")
    p.set_defaults(func=cmd_experiments, test_size=0.3)

    p = sub.add_parser("simulate", help="write a labelled, Kepler-like simulated dataset")
    p.add_argument("--n", type=int, default=2000, help="number of light curves")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="sim.csv", help="data file to write (truth goes beside it)")
    p.add_argument("--format", default="flux-csv", choices=["flux-csv", "kaggle"])
    p.add_argument(
        "--planet-fraction", type=float, default=None, help="planets (default 0.5; --into: 0.4)"
    )
    p.add_argument(
        "--eb-fraction", type=float, default=None,
        help="eclipsing binaries, negatives (default 0.15; --into: 0.2)",
    )  # fmt: skip
    p.add_argument(
        "--into", action="append", metavar="LIGHTCURVES",
        help="inject into these real light curves (FITS folder, JSON Lines, ...; repeatable) "
        "instead of simulating the star",
    )  # fmt: skip
    p.add_argument(
        "--known", metavar="CSV",
        help="with --into: ephemerides to remove from the real curves first (star_id, period, "
        "epoch, duration_hours; default: a truth.csv beside them; Kepler KOIs always)",
    )  # fmt: skip
    p.add_argument(
        "--artefact-fraction", type=float, default=0.2,
        help="with --into: momentum dumps, scattered light, outliers, flares, variable stars",
    )  # fmt: skip
    p.add_argument("--max-days", type=float, default=60.0, help="with --into: longest window")
    p.add_argument(
        "--all-signals", action="store_true",
        help="with --into: write every light curve, not only those whose signal a scan reports",
    )  # fmt: skip
    p.add_argument(
        "--snr-range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="SNR of the injected transits (default 4 40; --into: 5 40)",
    )  # fmt: skip
    p.add_argument("--n-jobs", type=int, default=-1, help="processes (-1: every usable core)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("features", help="light-curve features of a dataset, in chunks")
    p.add_argument("data", help="data with light curves, or a Parquet file with a flux column")
    p.add_argument("--output", default="features.csv", help="CSV or .parquet to write")
    p.add_argument("--scheduler", help="Dask scheduler tcp://HOST:PORT (default: local cores)")
    p.add_argument("--chunk-size", type=int, default=1000, help="light curves per chunk")
    _add_data_options(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser(
        "scan", help="search light curves for transit signals; one row per signal, scored"
    )
    p.add_argument(
        "data",
        help="light curves: a FITS file or folder (a star's quarters or sectors stitched), "
        "JSON Lines, a flux CSV, a Kaggle LABEL/FLUX.n CSV, or Parquet with a flux column",
    )
    p.add_argument(
        "--model",
        help="score every signal with this model: a train output folder or an MLflow URI "
        "(models:/NAME@champion); trained on light curves or AstroNet views",
    )
    p.add_argument("--output", default="candidates.csv", help="candidate table: .csv or .parquet")
    p.add_argument("--max-planets", type=int, default=5, help="signals per star, at most")
    p.add_argument(
        "--min-snr", type=float, default=7.1, help="detection threshold, sigma (Kepler's: 7.1)"
    )
    p.add_argument("--min-period", type=float, default=0.5, help="shortest period, days")
    p.add_argument(
        "--max-period", type=float, help="longest period, days (default: half each baseline)"
    )
    p.add_argument("--chunk-size", type=int, default=100, help="stars per chunk")
    p.add_argument("--scheduler", help="Dask scheduler tcp://HOST:PORT (default: local cores)")
    p.add_argument("--n-jobs", type=int, default=-1, help="local processes (-1: every core)")
    p.add_argument(
        "--resume", action="store_true", help="go on from an interrupted scan's --output"
    )
    p.add_argument(
        "--top",
        type=int,
        help="candidates to print (default: 20), and with --report the pages to draw "
        "(default: every candidate)",
    )
    p.add_argument(
        "--report",
        nargs="?",
        const="report",
        metavar="DIR",
        help="draw a vetting page for each candidate and an index.html into DIR (default: report)",
    )
    p.add_argument("--format", default="auto", help="input format (default: detect)")
    _add_tracking_options(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser(
        "report",
        help="a vetting page per candidate or row, with the reasons for its score, and an index",
    )
    p.add_argument(
        "data",
        help="light curves (FITS file or folder, JSON Lines: scanned first), or a table "
        "the model scores (KOI, TOI, K2, a flux CSV, AstroNet views)",
    )
    p.add_argument("--model", required=True, help="a train output folder or an MLflow model URI")
    p.add_argument("--output", default="report", help="the report's folder (default: report)")
    p.add_argument("--top", type=int, help="pages for the N best-scored only (default: all)")
    p.add_argument("--n-jobs", type=int, default=-1, help="processes drawing pages (-1: all)")
    _add_data_options(p)
    _add_tracking_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sweep", help="search hyperparameters with Optuna; register the best")
    p.add_argument("--model", default="xgboost", help="random_forest, xgboost, nn or cnn")
    p.add_argument("--trials", type=int, default=20, help="trials this worker runs")
    p.add_argument(
        "--storage",
        help="Optuna database shared by workers, e.g. postgresql+psycopg2://user@host/optuna "
        "(default: in memory, this command only)",
    )
    p.add_argument("--study-name", help="default: exohunt-<experiment>-<model>")
    p.add_argument("--timeout", type=float, help="seconds after which no new trial starts")
    _add_dataset(p)
    p.add_argument(
        "--output", help="the best model's directory (default: models/sweep_<model>_<time>)"
    )
    p.add_argument(
        "--no-retrain",
        dest="retrain",
        action="store_false",
        help="only search: do not retrain and register the study's best at the end",
    )
    _add_data_options(p)
    _add_train_options(p)
    _add_tracking_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("server", help="a team MLflow tracking server on PostgreSQL")
    from exohunt.services.server import add_arguments as add_server_arguments

    add_server_arguments(p)
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("ui", help="serve the MLflow UI on the tracking store")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--experiment-name", default="exoplanet-detection", help="experiment to link to")
    _add_tracking_options(p, switch=False)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("predict", help="score data with a saved model")
    p.add_argument("model", help="a train output directory or an MLflow model URI")
    p.add_argument("data", help="data file or folder, labelled or not")
    p.add_argument("--output", default="predictions.csv", help="CSV to write")
    _add_data_options(p)
    _add_tracking_options(p, switch=False)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="metrics of a saved model on labelled data")
    p.add_argument("model", help="a train output directory or an MLflow model URI")
    p.add_argument("data", help="labelled data file or folder")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_data_options(p)
    _add_tracking_options(p, switch=False)
    p.set_defaults(func=cmd_evaluate)
    return parser


# --------------------------------------------------------------------------- reporting helpers
def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    handler.addFilter(_Once())
    root = logging.getLogger("exohunt")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


class _Once(logging.Filter):
    """Each warning once per command: a step fitted again (per model, per fold) repeats its
    warnings word for word."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        return prefix + record.getMessage()


class _ProgressBars:
    """Draws progress(stage, done, total) calls as tqdm bars on stderr."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is not None and done < bar.n:  # the same loop started again (next model, fold)
            self.bars.pop(stage).close()
            bar = None
        if bar is None:
            bar = self.bars[stage] = tqdm(
                total=total, desc=stage, leave=False, file=sys.stderr, disable=None
            )
        bar.update(done - bar.n)
        if done >= total:
            self.bars.pop(stage).close()

    def close(self) -> None:
        """Close bars left open (a loop that stopped early, such as early stopping)."""
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _data_config(args, dataset: str | None):
    from exohunt.config import DataConfig

    return DataConfig(
        dataset=dataset,
        format=args.format,
        label_column=args.label_column,
        positive_labels=args.positive_labels,
        negative_labels=args.negative_labels,
        join=args.join,
        labels=args.labels,
    )


def _describe(dataset) -> str:
    counts = dataset.counts()
    if "planet" in counts:
        detail = (
            f"{counts['planet']:,} planet, {counts['not_planet']:,} not planet, "
            f"{counts['unresolved']:,} unresolved (left out)"
        )
    else:
        detail = "unlabelled"
    return f"{dataset.source} [{dataset.format}]: {counts['total']:,} rows; {detail}"


def _metrics_table(rows: dict[str, dict]) -> str:
    from exohunt.evaluate import METRICS

    width = max(len(n) for n in METRICS)
    header = f"{'metric':<{width}}  " + "  ".join(f"{name:>10}" for name in rows)
    lines = [header, "-" * len(header)]
    for metric in METRICS:
        cells = []
        for values in rows.values():
            v = values.get(metric)
            cells.append(f"{v:>10.4f}" if isinstance(v, float) else f"{str(v):>10}")
        lines.append(f"{metric:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def _confusion(cm: dict) -> str:
    return (
        "confusion matrix (rows: true, columns: predicted)\n"
        f"               not planet  planet\n"
        f"  not planet   {cm['tn']:>10}  {cm['fp']:>6}\n"
        f"  planet       {cm['fn']:>10}  {cm['tp']:>6}"
    )


# --------------------------------------------------------------------------- commands
def _train_config(args, dataset: str | None):
    from exohunt.config import TrainConfig

    return TrainConfig(
        data=_data_config(args, dataset),
        model=getattr(args, "model", "random_forest"),
        output=args.output,
        test_size=args.test_size,
        val_size=args.val_size,
        random_state=args.random_state,
        flux_features=not args.no_flux_features,
        cv=getattr(args, "cv", None),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        n_jobs=args.n_jobs,
        **(
            {}
            if getattr(args, "review_pages", None) is None
            else {"review_pages": args.review_pages}
        ),
    )


def _tracker(args):
    from exohunt.tracking import make_tracker

    # keep_warm: with EXOHUNT_TRACKING_SPARE=1, a command leaves a warm MLflow worker for the next
    # one (exohunt.tracking.worker); by default it leaves nothing running
    tracker = make_tracker(args.use_mlflow, args.tracking_uri, args.experiment_name, keep_warm=True)
    tracker.source = args.command_line  # the MLflow UI shows it as each run's source
    args.trackers.append(tracker)
    if tracker.enabled:
        print(f"tracking: {tracker.store} (experiment '{args.experiment_name}')")
    return tracker


def _announce_bundled(dataset: str | None) -> None:
    if dataset is None:
        print("data: the bundled Kepler KOI cumulative table (NASA Exoplanet Archive)")


def cmd_train(args) -> int:
    from exohunt.train import load_data, train

    config = _train_config(args, args.dataset).validate()
    _check_output_free(args.output, args.overwrite)
    tracker = _tracker(args)
    dataset = load_data(config.data)
    _announce_bundled(args.dataset)
    print(f"data: {_describe(dataset)}")
    for note in dataset.notes:
        print(f"  note: {note}")
    bars = _ProgressBars(not args.quiet)
    try:
        result = train(config, tracker, progress=bars, dataset=dataset)
    finally:
        bars.close()
    _report_train(result)
    if result.run_id:
        print(f"mlflow run: {result.run_name} ({result.run_id}); view it with 'exohunt ui'")
    return 0


def _check_output_free(output: str | None, overwrite: bool) -> None:
    """Refuse to train into a folder that holds a model, unless ``--overwrite``."""
    from exohunt.errors import ConfigError
    from exohunt.serving import MODEL_FILE

    if output and (Path(output) / MODEL_FILE).is_file() and not overwrite:
        raise ConfigError(
            f"{Path(output).resolve()} already holds a model ({MODEL_FILE}): give another "
            "--output, or --overwrite to replace it"
        )


def cmd_experiments(args) -> int:
    from exohunt.experiments import run_experiments

    if args.ui and not args.use_mlflow:
        raise ExohuntError("--ui shows the tracked runs: drop --no-mlflow, or drop --ui")

    config = _train_config(args, args.dataset)
    tracker = _tracker(args)
    _announce_bundled(args.dataset)
    bars = _ProgressBars(not args.quiet)
    try:
        result = run_experiments(config, args.models, args.experiment_name, tracker, bars)
    finally:
        bars.close()
    print(f"comparison (test split, {args.test_size:.0%} of stars, same for every model):")
    print(result.comparison.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"best by average precision: {result.best_model}")
    if result.registered:
        print(f"registered: {result.registered}")
    print(f"saved: {result.output_dir}")
    if tracker.enabled:
        if not args.ui:
            print("open the MLflow UI with: exohunt ui   (then http://127.0.0.1:5000)")
    if args.ui:
        from exohunt.services.ui import serve_ui

        return serve_ui("127.0.0.1", args.port, args.tracking_uri, args.experiment_name, print)
    return 0


def cmd_simulate(args) -> int:
    from exohunt.lightcurve.simulate import simulate, write_simulation

    if args.into:
        return _inject_into(args)
    rows, truth = simulate(
        n=args.n,
        seed=args.seed,
        planet_fraction=0.5 if args.planet_fraction is None else args.planet_fraction,
        eb_fraction=0.15 if args.eb_fraction is None else args.eb_fraction,
        snr_range=(4.0, 40.0) if args.snr_range is None else tuple(args.snr_range),
        progress=_ProgressBars(not args.quiet),
    )
    data_path, truth_path = write_simulation(rows, truth, args.out, format=args.format)
    labels = truth["kind"].value_counts()
    print(
        f"simulated {len(rows):,} light curves: {labels.get('planet', 0):,} planets, "
        f"{labels.get('eb', 0):,} eclipsing binaries, {labels.get('none', 0):,} without a signal"
    )
    print(f"wrote {Path(data_path).resolve()} [{args.format}] and {Path(truth_path).resolve()}")
    return 0


def _found_share(truth) -> float:
    injected = truth[truth["kind"].isin(["planet", "eb"])]
    return float(injected["signal_found"].astype(bool).mean()) if len(injected) else 0.0


def _inject_into(args) -> int:
    from exohunt.errors import ConfigError
    from exohunt.lightcurve.inject import inject, load_hosts, write_injection

    if args.format != "flux-csv":
        raise ConfigError("--into writes flux-csv only (real light curves differ in length)")
    planets = 0.4 if args.planet_fraction is None else args.planet_fraction
    binaries = 0.2 if args.eb_fraction is None else args.eb_fraction
    rest = 1.0 - planets - binaries - args.artefact_fraction
    if min(planets, binaries, args.artefact_fraction) < 0 or rest < -1e-9:
        raise ConfigError(
            f"--planet-fraction {planets}, --eb-fraction {binaries} and --artefact-fraction "
            f"{args.artefact_fraction} must be non-negative and add up to at most 1"
        )
    hosts = load_hosts(args.into, known=args.known)
    fractions = {"planet": planets, "eb": binaries, "artefact": args.artefact_fraction,
                 "none": max(rest, 0.0)}  # fmt: skip
    rows, truth = inject(
        hosts, n=args.n, seed=args.seed, fractions=fractions,
        snr_range=(5.0, 40.0) if args.snr_range is None else tuple(args.snr_range),
        max_days=args.max_days, n_jobs=args.n_jobs, progress=_ProgressBars(not args.quiet),
    )  # fmt: skip
    data_path, truth_path = write_injection(
        rows, truth, args.out, reported_only=not args.all_signals
    )
    kinds = truth["kind"].value_counts()
    written = truth[truth["signal_reported"].astype(bool)]
    print(
        f"injected into {len(rows):,} windows of {len(hosts)} real light curves: "
        f"{kinds.get('planet', 0):,} planets, {kinds.get('eb', 0):,} eclipsing binaries, "
        f"{kinds.get('artefact', 0):,} with artefacts, {kinds.get('none', 0):,} as they are; "
        f"the search found {_found_share(truth):.0%} of the injected transits and eclipses"
    )
    if not args.all_signals:
        print(
            f"kept the {len(written):,} whose signal a scan reports "
            f"({int(written['label'].sum()):,} planets; --all-signals keeps every one)"
        )
    print(f"wrote {Path(data_path).resolve()} [flux-csv] and {Path(truth_path).resolve()}")
    return 0


def cmd_features(args) -> int:
    import pandas as pd

    from exohunt.errors import DataError
    from exohunt.features import TransitFeatures
    from exohunt.services.distributed import ChunkWriter, read_parquet_chunks, transform_chunks

    if args.chunk_size < 1:
        raise ExohuntError(f"--chunk-size {args.chunk_size} must be at least 1")
    step = TransitFeatures()
    if str(args.data).endswith(".parquet"):
        # every column but the light curve itself (ids, labels...) goes out beside the features
        chunks, total = read_parquet_chunks(args.data, args.chunk_size), 0
        frames = _split_ids(chunks)
    else:
        from exohunt.train import load_data

        dataset = load_data(_data_config(args, args.data))
        if not dataset.has_lightcurves:
            raise DataError(
                f"{dataset.source} [{dataset.format}] has no light curves to compute features "
                "from (give FITS, JSONL, a flux CSV, a Kaggle file or a Parquet flux column)"
            )
        frame = dataset.to_frame()
        ids = pd.DataFrame({"star_id": dataset.groups})
        total = len(frame)
        frames = (
            (
                ids.iloc[i : i + args.chunk_size].reset_index(drop=True),
                frame.iloc[i : i + args.chunk_size].reset_index(drop=True),
            )
            for i in range(0, total, args.chunk_size)
        )
    step.fit(pd.DataFrame({"flux": [], "time": []}))
    names = list(step.get_feature_names_out())
    pending: list[pd.DataFrame] = []  # the ids of chunks sent, in order, until their rows return

    def light_curves():
        for ids, frame in frames:
            pending.append(ids)
            yield frame

    bars = _ProgressBars(not args.quiet)
    try:
        with ChunkWriter(args.output) as writer:
            for part in transform_chunks(
                step, light_curves(), args.scheduler, progress=bars, total=total
            ):
                features = pd.DataFrame(part, columns=names)
                writer.write(pd.concat([pending.pop(0), features], axis=1))
            out = writer.close(columns=names)
    finally:
        bars.close()
    where = args.scheduler or "local cores"
    print(f"computed {len(names)} features for {writer.rows:,} light curves on {where}")
    print(f"wrote {out.resolve()}")
    return 0


def cmd_scan(args) -> int:
    from exohunt.lightcurve.search import SearchSettings
    from exohunt.scanning import CANDIDATE_SCORE, MULTI_BOOST, ScanWriter, scan

    try:
        settings = SearchSettings(
            max_planets=args.max_planets,
            min_snr=args.min_snr,
            min_period=args.min_period,
            max_period=args.max_period,
        ).validate()
    except ValueError as exc:
        raise ExohuntError(f"{exc} (see 'exohunt scan --help')") from exc
    tracker = _tracker(args)
    loaded = None
    if args.model:
        from exohunt.predict import load_model

        loaded = load_model(args.model, args.tracking_uri)
        print(_model_source(args))
    writer = ScanWriter(args.output, resume=args.resume)
    if writer.done:
        print(f"resuming: {len(writer.done):,} stars already in {writer.stars_partial.name}")
    print(f"data: {args.data}")
    params = {
        **{f"search_{k}": v for k, v in settings.as_params().items()},
        "data": str(args.data),
        "model_uri": args.model or "none",
        "model_version": (loaded.metadata.get("model_version", "") if loaded else "") or "none",
        "model_run_id": (loaded.metadata.get("model_run_id", "") if loaded else "") or "none",
        "chunk_size": args.chunk_size,
        "scheduler": args.scheduler or "local",
        # the system score's multiplicity boost (exohunt.scanning.system_scores)
        "candidate_score": CANDIDATE_SCORE,
        "multi_boost": MULTI_BOOST,
    }
    bar = _ScanBar(not args.quiet)
    name = f"scan-{Path(str(args.data).rstrip('/')).name}"
    report = _scan_report(args, args.report, loaded) if args.report else None
    with tracker.run(name, tags={"exohunt_command": "scan"}):
        tracker.log_params(params)
        try:
            result = scan(
                args.data,
                loaded,
                settings,
                format=args.format,
                chunk_size=args.chunk_size,
                n_jobs=args.n_jobs,
                scheduler=args.scheduler,
                done=writer.done,
                on_chunk=writer.write,
                progress=bar,
                report=report,
            )
        finally:
            bar.close()
        candidates, stars = writer.close()
        if report is not None:
            _finish_report(args, report, tracker, name, loaded)
        scanned = int((stars["status"] == "scanned").sum())
        skipped = stars[stars["status"] == "skipped"]
        tracker.log_metrics(
            {
                "stars_scanned": scanned,
                "stars_skipped": len(skipped),
                "signals_found": len(candidates),
                "stars_per_second": len(result.stars) / max(result.seconds, 1e-9),
                "duration_seconds": result.seconds,
            }
        )
        tracker.log_artifacts([writer.output, writer.stars_output], "scan")
        _report_scan(args, candidates, stars, skipped, result.seconds, len(result.stars))
        if scanned == 0:
            raise DataError(
                f"no star could be scanned ({len(skipped):,} skipped; reasons in "
                f"{writer.stars_output}): give light curves with time and flux"
            )
    if tracker.enabled:
        print("the scan is an MLflow run: open it with 'exohunt ui'")
    return 0


def _report_scan(args, candidates, stars, skipped, seconds, this_run) -> None:
    shown = [
        "star_id", "signal", "period", "transit_time", "time_system", "duration_hours",
        "depth_ppm", "snr", "distinct_transit_count", "single_transit", "score", "system_score",
    ]  # fmt: skip
    if len(candidates):
        top = candidates.head(args.top or 20)[shown]
        print(f"candidates, best first (top {len(top)} of {len(candidates):,}):")
        print(top.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
    for _, row in skipped.head(10).iterrows():
        print(f"  skipped {row['star_id']} ({row['source']}): {row['reason']}")
    if len(skipped) > 10:
        print(f"  ... and {len(skipped) - 10:,} more skipped stars")
    rate = this_run / seconds if seconds > 0 else float("nan")
    print(
        f"scanned {int((stars['status'] == 'scanned').sum()):,} stars, skipped {len(skipped):,}, "
        f"found {len(candidates):,} signals ({this_run:,} stars this run, {rate:.1f} stars/s)"
    )
    print(f"wrote {Path(args.output).resolve()} and {Path(args.output).stem}_stars.csv")


class _ScanBar:
    """A progress bar of stars done, with the signals found so far."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def __call__(self, done: int, total: int | None, signals: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="scanning", unit="star", file=sys.stderr,
                            disable=None, leave=False)  # fmt: skip
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix(signals=signals)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _scan_report(args, folder, loaded):
    from exohunt.report import ScanReport

    if args.top is not None and args.top < 1:
        raise ExohuntError(f"--top {args.top} must be at least 1")
    return ScanReport(folder, loaded, args.top, args.n_jobs, _PageBar(not args.quiet))


def _finish_report(args, report, tracker, name: str, loaded) -> None:
    """Draw the pages still pending, write the index, log the folder as the run's artifacts."""
    subtitle = f"{args.data}  ·  {args.command_line}"
    index = report.finish(
        f"exohunt report: {name}", subtitle, run_id=tracker.run_id(), artifact_path="report"
    )
    report.progress.close()
    tracker.log_artifacts([report.folder], "report")
    tracker.log_metrics({"report_pages": len(report.entries)})
    print(f"report: {len(report.entries):,} pages; open {index.resolve()}")


class _PageBar:
    """A progress bar of pages drawn."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="drawing pages", unit="page", file=sys.stderr,
                            disable=None, leave=False)  # fmt: skip
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


#: Light-curve files a report scans before drawing (other data is scored row by row).
_SCANNED = (".fits", ".fits.gz", ".fit", ".jsonl", ".jsonl.gz", ".json")


def cmd_report(args) -> int:
    from exohunt.predict import load_model

    if args.top is not None and args.top < 1:
        raise ExohuntError(f"--top {args.top} must be at least 1")
    tracker = _tracker(args)
    loaded = load_model(args.model, args.tracking_uri)
    print(_model_source(args))
    data = Path(args.data)
    if not data.exists():
        raise DataError(f"no such file or folder: {data} (check the path)")
    scanned = data.is_dir() or data.name.lower().endswith(_SCANNED)
    name = f"report-{Path(str(args.data).rstrip('/')).name}"
    with tracker.run(name, tags={"exohunt_command": "report"}):
        tracker.log_params(
            {"data": str(args.data), "model_uri": args.model, "top": args.top or "all",
             "model_version": loaded.metadata.get("model_version", "") or "none",
             "model_run_id": loaded.metadata.get("model_run_id", "") or "none"}
        )  # fmt: skip
        if scanned:
            _report_scan_data(args, loaded, tracker, name)
        else:
            _report_table(args, loaded, tracker, name)
    return 0


def _report_scan_data(args, loaded, tracker, name: str) -> None:
    from exohunt.scanning import ScanWriter, scan

    report = _scan_report(args, args.output, loaded)
    writer = ScanWriter(Path(args.output) / "candidates.csv")
    bar = _ScanBar(not args.quiet)
    try:
        scan(args.data, loaded, format=args.format, n_jobs=args.n_jobs, on_chunk=writer.write,
             progress=bar, report=report)  # fmt: skip
    finally:
        bar.close()
    candidates, _ = writer.close()
    print(f"scanned {args.data}: {len(candidates):,} signals")
    _finish_report(args, report, tracker, name, loaded)


def _report_table(args, loaded, tracker, name: str) -> None:
    import numpy as np

    from exohunt.report import report_rows

    dataset = _read_for_model(args, loaded)
    print(f"data: {_describe(dataset)}")
    bar = _PageBar(not args.quiet)
    background = loaded.metadata.get("explain_background")
    index = report_rows(
        loaded, dataset, args.output, top=args.top, title=f"exohunt report: {name}",
        subtitle=f"{args.data}  ·  {args.command_line}", run_id=tracker.run_id(),
        artifact_path="report", n_jobs=args.n_jobs, progress=bar,
        background=None if background is None else np.asarray(background, dtype=float),
    )  # fmt: skip
    bar.close()
    pages = len(list((Path(args.output) / "pages").glob("*.png")))
    tracker.log_artifacts([Path(args.output)], "report")
    tracker.log_metrics({"report_pages": pages})
    print(f"report: {pages:,} pages; open {index.resolve()}")


def _split_ids(chunks):
    """(the frame's scalar columns: ids, labels..., the frame) for each chunk; array columns
    (flux, time, errors, quality flags) stay behind."""

    def scalar(column) -> bool:
        first = column.iloc[0] if len(column) else None
        return isinstance(first, (str, bytes)) or not hasattr(first, "__len__")

    for frame in chunks:
        keep = [c for c in frame.columns if c not in ("flux", "time") and scalar(frame[c])]
        yield frame[keep].reset_index(drop=True), frame


def cmd_sweep(args) -> int:
    from exohunt.services.sweep import run_sweep

    config = _train_config(args, args.dataset)
    tracker = _tracker(args)
    _announce_bundled(args.dataset)
    bars = _ProgressBars(not args.quiet)
    try:
        result = run_sweep(
            config,
            args.trials,
            storage=args.storage,
            study_name=args.study_name,
            timeout_seconds=args.timeout,
            experiment_name=args.experiment_name,
            tracker=tracker,
            progress=bars,
            retrain_best=args.retrain,
        )
    finally:
        bars.close()
    t = result.trials
    print(
        f"study '{result.study_name}' ({result.storage}): this worker ran {sum(t.values())} "
        f"trials: {t['complete']} complete, {t['pruned']} pruned, {t['fail']} failed"
    )
    print(
        f"best so far: trial {result.best_trial}, validation average precision "
        f"{result.best_value:.4f}"
    )
    for name, value in result.best_params.items():
        print(f"  {name} = {value}")
    if result.final is not None:
        print("the best settings retrained on the training stars and tested once:")
        _report_train(result.final)
    if result.registered:
        print(f"registered: {result.registered}")
    return 0


def cmd_server(args) -> int:
    from exohunt.services.server import serve

    return serve(
        args.backend_store_uri,
        args.artifacts_destination,
        args.host,
        args.port,
        args.workers,
        print,
        args.allowed_hosts,
        auth=args.auth,
        admin_username=args.admin_username,
        admin_password_file=args.admin_password_file,
        default_permission=args.default_permission,
    )


def cmd_ui(args) -> int:
    from exohunt.services.ui import serve_ui

    return serve_ui(args.host, args.port, args.tracking_uri, args.experiment_name, print)


def _report_train(result) -> None:
    meta = result.metadata
    print(
        f"model: {meta['model_type']}; {meta['n_features']} features; "
        f"{meta['n_train_samples']:,} train / {meta['n_val_samples']:,} validation / "
        f"{meta['n_test_samples']:,} test rows (split by star)"
    )
    print(f"threshold (max F1 on validation): {result.fitted.threshold:.4f}")
    print(_metrics_table({"validation": result.fitted.val_metrics, "test": result.metrics["test"]}))
    print(_confusion(result.metrics["test"]["confusion_matrix"]))
    if result.cv:
        print(f"cross-validation ({len(next(iter(result.cv.values()))['folds'])} folds, by star):")
        for name, s in result.cv.items():
            print(f"  {name:<18} {s['mean']:.4f} ± {s['std']:.4f}")
    print(f"saved: {result.output_dir}")


def _read_for_model(args, loaded):
    from exohunt.dataset import LabelMapping
    from exohunt.train import load_data

    dataset = load_data(_data_config(args, args.data))
    saved = loaded.metadata.get("label_mapping")
    same_format = loaded.metadata.get("data_format") == dataset.format
    if saved and same_format and not (args.positive_labels or args.negative_labels):
        dataset = dataset.with_mapping(LabelMapping.from_dict(saved))
    return dataset


def _model_source(args) -> str:
    """Where the model comes from, as printed: its folder, or its URI and the tracking store."""
    from exohunt.predict import is_mlflow_uri

    if not is_mlflow_uri(args.model):
        return f"model: {Path(args.model).resolve()}"
    from exohunt.tracking import redact, resolve_tracking_uri

    return f"model: {args.model} (tracking: {redact(resolve_tracking_uri(args.tracking_uri))})"


def cmd_predict(args) -> int:
    from exohunt.predict import load_model, predict

    loaded = load_model(args.model, args.tracking_uri)
    print(_model_source(args))
    dataset = _read_for_model(args, loaded)
    print(f"data: {_describe(dataset)}")
    table = predict(loaded, dataset)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    table.to_csv(partial, index=False)
    os.replace(partial, out)  # an interrupted command leaves an earlier file whole
    n_planets = int(table["predicted_label"].sum())
    print(
        f"predicted {n_planets:,} of {len(table):,} rows as planets "
        f"(threshold {loaded.threshold:.4f}); wrote {out.resolve()}"
    )
    return 0


def cmd_evaluate(args) -> int:
    from exohunt.predict import evaluate, load_model

    loaded = load_model(args.model, args.tracking_uri)
    if not args.json:  # stdout is the JSON alone
        print(_model_source(args))
    dataset = _read_for_model(args, loaded)
    metrics = evaluate(loaded, dataset)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"data: {_describe(dataset)}")
    print(_metrics_table({"evaluation": metrics}))
    print(_confusion(metrics["confusion_matrix"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.quiet)
    args.command_line = shlex.join(["exohunt", *(sys.argv[1:] if argv is None else argv)])
    args.trackers = []
    try:
        _resolve_dataset(args)
        return args.func(args)
    except ExohuntError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for tracker in args.trackers:
            try:
                tracker.close()
            except Exception as exc:  # the command's own outcome is reported already
                log.warning("closing the tracker: %s", exc)


if __name__ == "__main__":
    sys.exit(main())
