"""What a run logged that its tracking store never recorded, kept so that nothing is lost silently.

:class:`exohunt.tracking.MlflowTracker` puts every failed recording call of a run into that run's
:class:`Unrecorded` ledger (the worker has already retried a store that did not answer). A run
that ends with a non-empty ledger raises :class:`UnrecordedError`; training saves the ledger as
``tracking_unrecorded.json`` beside the model (:meth:`UnrecordedError.saved`) and the command
prints the error's one line and exits with code 2.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from exohunt.errors import ExohuntError

#: The file, beside the model, that holds what the tracking store did not record.
UNRECORDED_FILE = "tracking_unrecorded.json"


_SINGULAR = {
    "metric values": "metric value",
    "params": "param",
    "tags": "tag",
    "artifacts": "artifact",
    "models": "model",
    "datasets": "dataset",
}


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_value(value) -> bool:
    try:
        return math.isfinite(float(value)) and not isinstance(value, (str, bytes, bool))
    except (TypeError, ValueError):
        return False


@dataclass
class Unrecorded:
    """The params, metric values, tags, artifacts, models and datasets of one run that the
    store did not record, with the reasons (first one first)."""

    store: str
    run_name: str
    run_id: str | None = None
    start_error: BaseException | None = None  # the run itself was never created
    marked_failed: bool = False
    params: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)  # {"key", "value", "step"}
    tags: dict = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def add(self, method: str, records: dict, exc: BaseException) -> None:
        """Keep what the failed call ``method`` was to record (``records``, as the tracker
        described it) and why it failed."""
        reason = f"{method}: {_one_line(exc)}"
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.params |= {k: str(v) for k, v in records.get("params", {}).items()}
        if "metrics" in records:
            values, step = records["metrics"]
            self.metrics += [
                {"key": k, "value": float(v), "step": step}
                for k, v in values.items()
                if _is_value(v)
            ]
        for key, series in records.get("history", {}).items():
            self.metrics += [
                {"key": key, "value": v, "step": step}
                for step, v in enumerate(series)
                if _is_value(v)
            ]
        self.tags |= {k: str(v) for k, v in records.get("tags", {}).items()}
        self.artifacts += records.get("artifacts", [])
        self.models += records.get("models", [])
        self.datasets += records.get("datasets", [])

    def counts(self) -> dict[str, int]:
        return {
            "metric values": len(self.metrics),
            "params": len(self.params),
            "tags": len(self.tags),
            "artifacts": len(self.artifacts),
            "models": len(self.models),
            "datasets": len(self.datasets),
        }

    def __bool__(self) -> bool:
        return self.start_error is not None or any(self.counts().values())

    def reason(self) -> str:
        if self.start_error is not None:
            return f"the run was never created: {_one_line(self.start_error)}"
        return self.reasons[0] if self.reasons else "unknown"

    def summary(self) -> str:
        """``12 metric values, 3 params and 1 model not recorded (log_metrics: ...)``"""
        parts = [
            f"{n} {what if n != 1 else _SINGULAR[what]}" for what, n in self.counts().items() if n
        ]
        listed = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)
        return f"{listed or 'nothing'} not recorded ({self.reason()})"

    def to_dict(self, rename: dict[str, str] | None = None) -> dict:
        """The ledger as JSON-ready data; ``rename`` maps a folder prefix of the local paths to
        the one they have now (the model folder is written elsewhere, then moved)."""

        def moved(path: str) -> str:
            for old, new in (rename or {}).items():
                if path.startswith(old):
                    return new + path[len(old) :]
            return path

        return {
            "store": self.store,
            "run_id": self.run_id,
            "run_name": self.run_name,
            "marked_failed": self.marked_failed,
            "reasons": ([self.reason()] if self.start_error is not None else []) + self.reasons,
            "counts": self.counts(),
            "params": self.params,
            "metrics": self.metrics,
            "tags": self.tags,
            "artifacts": [moved(p) for p in self.artifacts],
            "models": [moved(p) for p in self.models],
            "datasets": self.datasets,
        }


class UnrecordedError(ExohuntError):
    """A run ended with values its tracking store did not record. ``ledger``: what and why;
    ``saved_to``: the JSON file that keeps them, once written (:meth:`saved`)."""

    def __init__(self, ledger: Unrecorded, saved_to: Path | None = None):
        self.ledger, self.saved_to = ledger, saved_to
        run = f"run {ledger.run_id}" if ledger.run_id else "run (never created)"
        state = (
            "it is marked FAILED"
            if ledger.marked_failed
            else "it could not be marked FAILED"
            if ledger.run_id
            else "nothing is on the store"
        )
        kept = f"a local copy is in {saved_to}" if saved_to else "nothing was kept locally"
        super().__init__(
            f"tracking: {run} ({ledger.run_name}) on {ledger.store}: {ledger.summary()}; "
            f"{state}; {kept}"
        )

    def __reduce__(self):
        return (type(self), (self.ledger, self.saved_to))

    def saved(self, folder: Path, rename: dict[str, str] | None = None) -> UnrecordedError:
        """Write the ledger to ``folder/tracking_unrecorded.json`` and return the error that
        says so."""
        path = Path(folder) / UNRECORDED_FILE
        path.write_text(json.dumps(self.ledger.to_dict(rename), indent=2, default=str) + "\n")
        return UnrecordedError(self.ledger, path)
