"""The original design's Random Forest, with predictions that are identical from run to run."""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier


class RandomForest(RandomForestClassifier):
    """scikit-learn's Random Forest; ``predict_proba`` sums the trees in a fixed order.

    With ``n_jobs > 1`` scikit-learn adds the trees' votes in whatever order threads finish,
    which changes the last bits of the probabilities between runs. Fitting still uses every core;
    prediction (fast next to fitting) runs on one, so the same seed gives the same metrics.
    """

    def predict_proba(self, X):
        n_jobs = self.n_jobs
        self.n_jobs = 1
        try:
            return super().predict_proba(X)
        finally:
            self.n_jobs = n_jobs
