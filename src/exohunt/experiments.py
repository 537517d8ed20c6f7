"""Several models side by side on one split: ``exohunt experiments``.

One parent run holds a nested child run per model. All children train on the same rows and are
scored on the same test stars, so their metrics compare. The best by test average precision is
tagged and its servable model registered as ``exohunt-<experiment>`` with alias ``champion``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from exohunt.config import TrainConfig
from exohunt.models import get_model
from exohunt.tracking import NullTracker, Tracker
from exohunt.train import Progress, TrainResult, load_data, train

log = logging.getLogger(__name__)

#: Columns of the comparison table, in order.
COMPARISON_COLUMNS = (
    "model",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "mcc",
    "duration_seconds",
)


@dataclass
class ExperimentsResult:
    results: dict[str, TrainResult]
    comparison: pd.DataFrame
    best_model: str
    registered: str | None  # "name@champion (version N)" when registered
    output_dir: Path
    parent_run_name: str


def registered_model_name(experiment_name: str) -> str:
    return f"exohunt-{experiment_name}"


def run_experiments(
    config: TrainConfig,
    models: list[str],
    experiment_name: str,
    tracker: Tracker | None = None,
    progress: Progress | None = None,
) -> ExperimentsResult:
    """Train each model in ``models`` on the same split, compare, and register the best."""
    tracker = tracker or NullTracker()
    names = list(dict.fromkeys(get_model(m).name for m in models))  # resolves rf/xgb, dedups
    base = replace(config, model=names[0]).validate()
    dataset = load_data(base.data)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parent_name = f"experiments_{stamp}"
    output_dir = Path(config.output or Path("models") / parent_name).resolve()

    results: dict[str, TrainResult] = {}
    rows = []
    with tracker.run(parent_name, tags={"exohunt.kind": "experiments"}):
        tracker.log_params(
            {
                "models": ",".join(names),
                "test_size": base.test_size,
                "random_state": base.random_state,
                "dataset": str(dataset.source),
            }
        )
        for name in names:
            log.info("training %s", name)
            started = time.perf_counter()
            child = replace(base, model=name, output=str(output_dir / name))
            result = train(
                child,
                tracker=tracker,
                progress=progress,
                dataset=dataset,
                run_name=f"{name}_{stamp}",
            )
            results[name] = result
            test = result.metrics["test"]
            rows.append(
                {"model": name}
                | {c: test[c] for c in COMPARISON_COLUMNS[1:-1]}
                | {"duration_seconds": round(time.perf_counter() - started, 2)}
            )

        comparison = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
        best = comparison.sort_values("average_precision", ascending=False).iloc[0]["model"]
        output_dir.mkdir(parents=True, exist_ok=True)
        table_csv = output_dir / "comparison.csv"
        table_md = output_dir / "comparison.md"
        comparison.to_csv(table_csv, index=False)
        table_md.write_text(comparison_markdown(comparison, best))
        tracker.log_artifacts([table_csv, table_md])
        tracker.set_tags({"best_model": best, "best_run_id": results[best].run_id or ""})
        tracker.log_metrics(
            {"best_average_precision": float(comparison["average_precision"].max())}
        )

        registered = None
        servable = results[best].metadata.get("model_uris", {}).get("servable")
        if tracker.enabled and servable:
            tracker.tag_run(results[best].run_id, {"best_model": "true"})
            name = registered_model_name(experiment_name)
            version = tracker.register(servable, name, alias="champion")
            registered = f"models:/{name}@champion (version {version})"

    return ExperimentsResult(results, comparison, best, registered, output_dir, parent_name)


def comparison_markdown(comparison: pd.DataFrame, best: str) -> str:
    """The comparison table as Markdown, best model marked."""
    header = "| " + " | ".join(comparison.columns) + " |"
    lines = [header, "|" + "---|" * len(comparison.columns)]
    for _, row in comparison.iterrows():
        cells = [
            f"{v:.4f}" if isinstance(v, float) and c != "duration_seconds" else str(v)
            for c, v in row.items()
        ]
        if row["model"] == best:
            cells[0] = f"**{cells[0]}** (best)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
