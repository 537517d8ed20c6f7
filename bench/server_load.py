"""Team server load: `exohunt server` on PostgreSQL under 8 concurrent clients and a real train.

Starts a throwaway PostgreSQL cluster (tests/pg.py; fsync on, as a real one) and
`python -m exohunt.services.server` on it, then at one moment 8 client processes that each log
``--batches`` batches of 1,000 metrics to their own run (MlflowClient.log_batch, the call
exohunt's tracker makes for per-epoch histories) while one real `exohunt train` runs through the
same server. Prints the median and 95th-percentile latency of a 1,000-metric batch, the
throughput, and checks over the REST API that every run finished and every metric value arrived.
No asserts: a figure that looks wrong is reported, not raised.

Usage: python bench/server_load.py [--clients 8] [--batches 5] [--workers N] [--model xgboost]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pg import free_port, postgres_cluster  # noqa: E402

EXPERIMENT = "server-load"
KEYS = 10  # a batch is 10 metrics x 100 steps = 1,000 values

CLIENT = """
import json, sys, time
from pathlib import Path
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

base, experiment_id, index, batches, barrier = sys.argv[1:6]
index, batches, barrier = int(index), int(batches), Path(barrier)
client = MlflowClient(tracking_uri=base)
run = client.create_run(experiment_id, run_name=f"load_client_{index}")
(barrier / f"ready_{index}").touch()
while not (barrier / "go").exists():
    time.sleep(0.05)
latencies = []
for b in range(batches):
    now = int(time.time() * 1000)
    metrics = [
        Metric(key=f"m{k}", value=float(b * 100 + s), timestamp=now, step=b * 100 + s)
        for k in range(KEYS) for s in range(100)
    ]
    started = time.perf_counter()
    client.log_batch(run.info.run_id, metrics=metrics)
    latencies.append(time.perf_counter() - started)
client.set_terminated(run.info.run_id)
print(json.dumps({"run_id": run.info.run_id, "latencies": latencies}))
""".replace("KEYS", str(KEYS))


def wait_for_health(base: str, process: subprocess.Popen, timeout: float = 300) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"exohunt server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"exohunt server did not answer within {timeout:.0f} s")


def start_clients(
    base: str, experiment_id: str, n: int, batches: int, barrier: Path
) -> list[subprocess.Popen]:
    """Start ``n`` client processes and wait until each has its run and waits at the barrier."""
    barrier.mkdir()
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, base, experiment_id, str(i), str(batches)]
            + [str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    while len(list(barrier.glob("ready_*"))) < n:
        for c in clients:
            if c.poll() not in (None, 0):
                raise SystemExit(f"a client failed before the start: {c.communicate()[1][-1500:]}")
        time.sleep(0.1)
    return clients


def collect(clients: list[subprocess.Popen]) -> list[dict]:
    results = []
    for c in clients:
        out, err = c.communicate()
        if c.returncode != 0:
            raise SystemExit(f"a client failed: {err.strip()[-1500:]}")
        # the last line; MLflow prints "View run ..." links before it
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batches", type=int, default=5, help="1,000-metric batches per client")
    parser.add_argument("--workers", type=int, default=None, help="server workers (default: its)")
    parser.add_argument("--model", default="xgboost", help="model of the concurrent train")
    options = parser.parse_args()

    from mlflow.tracking import MlflowClient

    from exohunt.services.server import default_workers

    workers = options.workers or default_workers()
    with tempfile.TemporaryDirectory() as tmp, postgres_cluster(fast=False) as pg:
        tmp = Path(tmp)
        uri = pg.create_database("mlflow")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exohunt.services.server",
                "--artifacts-destination",
                str(tmp / "art"),
            ]
            + ["--port", str(port), "--workers", str(workers)],
            env=os.environ | {"MLFLOW_BACKEND_STORE_URI": uri},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            boot = wait_for_health(base, server)
            client = MlflowClient(tracking_uri=base)
            experiment_id = client.create_experiment(EXPERIMENT)
            print(
                f"exohunt server: PostgreSQL {pg.bindir.parent.name} (fsync on), {workers} "
                f"workers, artifacts proxied; ready {boot:.1f} s after start"
            )
            print(
                f"load: {options.clients} clients x {options.batches} batches of 1,000 metrics, "
                f"with one `exohunt train --model {options.model}` at the same time"
            )

            solo_clients = start_clients(base, experiment_id, 1, 2, tmp / "solo")
            (tmp / "solo" / "go").touch()
            solo = collect(solo_clients)[0]
            print(
                "one client alone: 1,000-metric batch "
                f"{statistics.median(solo['latencies']):.3f} s (median of 2)"
            )

            barrier = tmp / "barrier"
            clients = start_clients(base, experiment_id, options.clients, options.batches, barrier)
            (barrier / "go").touch()
            started = time.perf_counter()
            trainer = subprocess.Popen(
                [sys.executable, "-m", "exohunt.cli", "-q", "train", "--model", options.model]
                + ["--n-jobs", "1"]  # a shared machine: no thread oversubscription
                + ["--tracking-uri", base, "--experiment-name", EXPERIMENT]
                + ["--output", str(tmp / "model")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            results = collect(clients)
            load_seconds = time.perf_counter() - started
            _, train_err = trainer.communicate()
            train_seconds = time.perf_counter() - started

            latencies = [x for r in results for x in r["latencies"]]
            sent = options.clients * options.batches * 1000
            print(
                f"1,000-metric batch: median {statistics.median(latencies):.3f} s, "
                f"p95 {percentile(latencies, 0.95):.3f} s, max {max(latencies):.3f} s "
                f"({len(latencies)} batches)"
            )
            print(
                f"throughput: {sent:,} metric values in {load_seconds:.1f} s = "
                f"{sent / load_seconds:,.0f} values/s (all clients together)"
            )
            status = "ok" if trainer.returncode == 0 else f"exit {trainer.returncode}"
            print(f"exohunt train through the server: {train_seconds:.1f} s ({status})")
            if trainer.returncode != 0:
                print(f"  {train_err.strip().splitlines()[-1] if train_err.strip() else ''}")

            runs = client.search_runs([experiment_id], max_results=1000)
            finished = sum(r.info.status == "FINISHED" for r in runs)
            stored = 0
            for r in results:
                for k in range(KEYS):
                    stored += len(client.get_metric_history(r["run_id"], f"m{k}"))
            expected_runs = options.clients + 2  # and the solo client and the train
            verdict = "none lost" if stored == sent and finished == expected_runs else "LOST"
            print(
                f"check: {finished}/{expected_runs} runs FINISHED; {stored:,}/{sent:,} metric "
                f"values stored; {verdict}"
            )
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
