"""Tracking faults: real faults injected into real `exohunt train` runs, and the values lost.

Faults: the tracking server SIGKILLed mid-run and started again on the same port and database;
the server SIGKILLed and left down (3 s retry budget); the artifact storage full (a 64 KiB tmpfs,
as root; else read-only); the SQLite store locked by another process for 8 s, and for longer
than the retry budget. For each, prints the exit code and, for every metric value and artifact
the run produced locally (metrics.json, the per-epoch losses, the plots and files), whether it is
on the store, in ``tracking_unrecorded.json``, or lost. Lost must be 0.

Sweep faults: PostgreSQL holding the Optuna study of two `exohunt sweep` workers stopped
mid-sweep and started again on the same data and port, with MLflow on SQLite, and with MLflow
through an `exohunt server` on the same PostgreSQL (so tracking meets the outage too). Prints the
trials asked for, those complete, and the trials (or their values, in Optuna and MLflow) lost or
doubled. Both must be 0.

The server and sweep faults need PostgreSQL (tests/pg.py) and are skipped without it.

Usage: python bench/faults.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import test_tracking_faults as faults  # noqa: E402
from tests.pg import find_bindir, postgres_cluster  # noqa: E402
from tests.services import test_sweep_faults as sweep_faults  # noqa: E402
from tests.support import free_port  # noqa: E402

EPOCHS = faults.EPOCHS


def koi_subset(folder: Path) -> Path:
    import gzip

    from exohunt.io import bundled_koi_path

    lines = gzip.open(bundled_koi_path(), "rt").read().splitlines()
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    path = folder / "koi_subset.csv"
    path.write_text("\n".join(header + body[:1501]) + "\n")
    return path


def produced(out: Path) -> tuple[dict[tuple[str, int], float], set[str]]:
    """The metric values ((key, step) -> value) and artifact paths the run produced locally."""
    metrics = json.loads((out / "metrics.json").read_text())
    values = {}
    for prefix, part in (("", "test"), ("val_", "validation")):
        for key, value in metrics[part].items():
            if isinstance(value, (int, float)) and value == value and key != "n_samples":
                values[(f"{prefix}{key}", 0)] = value
    artifacts = {"metrics.json", "model_metadata.json"}
    artifacts |= {f"plots/{p.name}" for p in (out / "plots").glob("*.png")}
    return values, artifacts


def account(uri: str, out: Path, epochs: int | None) -> dict[str, int]:
    """Values and artifacts on the store, kept locally, and lost."""
    values, artifacts = produced(out)
    kept_file = out / "tracking_unrecorded.json"
    kept = json.loads(kept_file.read_text()) if kept_file.exists() else {}
    kept_metrics = {(m["key"], m["step"] or 0) for m in kept.get("metrics", [])}
    kept_artifacts = {str(Path(p).relative_to(out)) for p in kept.get("artifacts", [])}
    on_store_metrics, on_store_artifacts = set(), set()
    try:
        client, runs = faults._runs(uri)
    except Exception:  # the store is gone
        client, runs = None, []
    for run in runs:
        for key in run.data.metrics:
            for m in client.get_metric_history(run.info.run_id, key):
                on_store_metrics.add((key, m.step))
        for entry in client.list_artifacts(run.info.run_id):
            if entry.is_dir:
                on_store_artifacts |= {
                    e.path for e in client.list_artifacts(run.info.run_id, entry.path)
                }
            else:
                on_store_artifacts.add(entry.path)
    if epochs:  # the per-epoch losses: every step up to the last one seen (early stopping)
        seen = [s for k, s in on_store_metrics | kept_metrics if k in ("train_loss", "val_loss")]
        last = max(seen, default=-1)
        values |= {(k, s): 0.0 for k in ("train_loss", "val_loss") for s in range(last + 1)}
    metric_keys = set(values)
    artifact_keys = set(artifacts)
    return {
        "metric values": len(metric_keys),
        "artifacts": len(artifact_keys),
        "on store": len(metric_keys & on_store_metrics) + len(artifact_keys & on_store_artifacts),
        "kept locally": len((metric_keys & kept_metrics) - on_store_metrics)
        + len((artifact_keys & kept_artifacts) - on_store_artifacts),
        "lost": len(metric_keys - on_store_metrics - kept_metrics)
        + len(artifact_keys - on_store_artifacts - kept_artifacts),
    }


def account_sweep(storage: str, tracking: str) -> dict[str, int]:
    """The study's trials against those asked for, and each trial's value in Optuna and in its
    MLflow run: lost (missing, unfinished, not equal) or doubled (a trial number, an MLflow run
    or a trial's run recorded twice)."""
    import optuna
    from mlflow.tracking import MlflowClient

    asked = 2 * sweep_faults.TRIALS
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=sweep_faults.STUDY, storage=storage).trials
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name(sweep_faults.EXPERIMENT)
    runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    trial_runs = [r for r in runs.values() if "optuna.trial" in r.data.tags]
    run_ids = [t.user_attrs.get("mlflow_run_id") for t in complete]
    values_lost = 0
    for trial, run_id in zip(complete, run_ids, strict=True):
        run = runs.get(run_id)
        if (
            run is None
            or run.info.status != "FINISHED"
            or run.data.metrics.get("val_average_precision") != trial.value
        ):
            values_lost += 1
    numbers = [t.number for t in trials]
    return {
        "trials asked": asked,
        "complete": len(complete),
        "lost": max(0, asked - len(complete)) + values_lost,
        "doubled": max(0, len(trials) - asked)
        + len(numbers) - len(set(numbers))
        + len(run_ids) - len(set(run_ids))
        + max(0, len(trial_runs) - len(trials)),
    }  # fmt: skip


def report(fault: str, code: int, err: str, counts: dict, seconds: float) -> int:
    line = next((line for line in err.splitlines() if line.startswith("error:")), "")
    print(
        f"{fault:<42} exit {code}  {seconds:5.0f} s  "
        + "  ".join(f"{k}: {v}" for k, v in counts.items())
    )
    if line:
        print(f"    {line[:300]}")
    return counts["lost"]


class _Server:
    def __init__(self, cluster, root: Path):
        self.database = cluster.create_database(f"faults{time.monotonic_ns()}")
        self.port, self.root = free_port(), root
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        self.process = faults._start_server(self.database, self.root / "artifacts", self.port)

    def kill(self):
        faults._kill_server(self.process)
        self.process = None
        faults._wait_for(lambda: not faults._answers(self.base), 30, "the port to close")


def main() -> int:
    lost = doubled = 0
    root = Path(tempfile.mkdtemp(prefix="exohunt-faults-"))
    try:
        data = koi_subset(root)
        print(f"{'fault injected':<42} result")

        # SQLite locked for 8 s
        store = root / "locked"
        uri = f"sqlite:///{store / 'mlflow.db'}"
        from exohunt.tracking import prepare_store

        prepare_store(uri, faults.EXPERIMENT)
        started = time.monotonic()
        with faults._locked(store / "mlflow.db", 8):
            code, _, err = faults._finish(
                faults._train(str(data), "--tracking-uri", uri, "--output", str(root / "m1"))
            )
        lost += report(
            "SQLite store locked 8 s",
            code,
            err,
            account(uri, root / "m1", None),
            time.monotonic() - started,
        )

        # SQLite locked beyond the retry budget
        store = root / "locked-long"
        uri = f"sqlite:///{store / 'mlflow.db'}"
        prepare_store(uri, faults.EXPERIMENT)
        started = time.monotonic()
        with faults._locked(store / "mlflow.db", 55):
            process = faults._train(
                str(data), "--tracking-uri", uri, "--output", str(root / "m2"),
                EXOHUNT_TRACKING_RETRY_SECONDS=2,
            )  # fmt: skip
            code, _, err = faults._finish(process)
        lost += report(
            "SQLite store locked 55 s (budget 2 s)",
            code,
            err,
            account(uri, root / "m2", None),
            time.monotonic() - started,
        )

        # artifact storage full (or read-only)
        store = root / "full"
        started = time.monotonic()
        with faults._unwritable(store / "artifacts") as what:
            code, _, err = faults._finish(
                faults._train(str(data), "--tracking-uri", str(store), "--output", str(root / "m3"))
            )
        lost += report(
            f"artifact storage {what}",
            code,
            err,
            account(f"sqlite:///{store / 'mlflow.db'}", root / "m3", None),
            time.monotonic() - started,
        )

        if find_bindir() is None:
            print("server faults: skipped (PostgreSQL not installed)")
        else:
            with postgres_cluster() as cluster:
                for restart, budget, name in (
                    (True, 150, "server SIGKILLed mid-run, restarted"),
                    (False, 3, "server SIGKILLed mid-run, left down"),
                ):
                    folder = root / f"server-{restart}"
                    folder.mkdir()
                    server = _Server(cluster, folder)
                    server.start()
                    started = time.monotonic()
                    try:
                        out, (code, _, err) = faults._train_through_an_outage(
                            server, data, folder, restart, EXOHUNT_TRACKING_RETRY_SECONDS=budget
                        )
                        if server.process is None:
                            server.start()  # to count what reached it before it went down
                        counts = account(server.base, out, EPOCHS)
                    finally:
                        if server.process is not None:
                            server.kill()
                    lost += report(name, code, err, counts, time.monotonic() - started)

            # PostgreSQL restarted under a two-worker sweep: MLflow on SQLite, then through
            # `exohunt server` on the same PostgreSQL
            for through_server in (False, True):
                folder = root / f"sweep-{through_server}"
                folder.mkdir()
                with postgres_cluster() as cluster:
                    server, tracking = None, None
                    if through_server:
                        server = _Server(cluster, folder)
                        server.start()
                        tracking = server.base
                    started = time.monotonic()
                    try:
                        results, storage, tracking = sweep_faults.sweep_through_an_outage(
                            cluster, data, folder, tracking=tracking
                        )
                        counts = account_sweep(storage, tracking)
                    finally:
                        if server is not None and server.process is not None:
                            server.kill()
                met = sum(sweep_faults.RETRYING in err for _, _, err in results)
                counts = {"workers met it": met} | counts
                store = "exohunt server on PG" if through_server else "MLflow on SQLite"
                lost += report(
                    f"PG restarted mid-sweep, {store}",
                    max(code for code, _, _ in results),
                    "\n".join(err for _, _, err in results),
                    counts,
                    time.monotonic() - started,
                )
                doubled += counts["doubled"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"values lost: {lost} (must be 0)")
    print(f"trials doubled: {doubled} (must be 0)")
    return 1 if lost or doubled else 0


if __name__ == "__main__":
    sys.exit(main())
