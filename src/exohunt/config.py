"""One dataclass per command's settings. Each is logged whole and saved with the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from exohunt.errors import ConfigError


@dataclass
class DataConfig:
    """Where the data comes from and how its labels are read."""

    dataset: str | None = None  # None: the bundled Kepler KOI table
    format: str = "auto"
    label_column: str = "label"
    positive_labels: tuple[str, ...] | None = None
    negative_labels: tuple[str, ...] | None = None
    join: str | None = None  # a second table joined on shared keys (DR24 stellar)
    labels: str | None = None  # labels CSV for light-curve files


def _review_pages_default() -> int:
    import os

    text = os.environ.get("EXOHUNT_REVIEW_PAGES", "2")
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"EXOHUNT_REVIEW_PAGES={text!r} is not a whole number (set it to 0 for no pages)"
        ) from None


@dataclass
class TrainConfig:
    """Settings of ``exohunt train``. Defaults are the original design's."""

    data: DataConfig = field(default_factory=DataConfig)
    model: str = "random_forest"
    output: str | None = None  # default: runs/<model>_<timestamp>
    test_size: float = 0.2
    val_size: float = 0.2  # share of the training stars held out for early stopping/threshold
    random_state: int = 42
    flux_features: bool = True
    cv: int | None = None
    # network settings (nn, cnn)
    epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    n_jobs: int = -1
    # estimator hyperparameters over the registry's defaults, e.g. {"max_depth": 4} (exohunt sweep)
    model_params: dict = field(default_factory=dict)
    # test rows drawn for review after training, per group (confident planets and non-planets,
    # false positives, missed planets); $EXOHUNT_REVIEW_PAGES sets the default
    review_pages: int = field(default_factory=_review_pages_default)

    def validate(self) -> TrainConfig:
        """Check ranges; raises ConfigError naming the option."""
        for name in ("test_size", "val_size"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} {value} is outside (0, 1); "
                    "give a fraction such as 0.2"
                )
        if self.cv is not None and self.cv < 2:
            raise ConfigError(f"--cv {self.cv} must be at least 2 (for example --cv 5)")
        if self.review_pages < 0:
            raise ConfigError(f"--review-pages {self.review_pages} must be 0 or more")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive whole number")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate {self.learning_rate} must be positive")
        from exohunt.models import get_model, make_estimator

        self.model = get_model(self.model).name
        if self.model_params:
            known = make_estimator(self.model).get_params()
            unknown = sorted(set(self.model_params) - set(known))
            if unknown:
                raise ConfigError(
                    f"{self.model} has no parameter {', '.join(unknown)}; "
                    f"its parameters are: {', '.join(sorted(known))}"
                )
        return self

    def to_dict(self) -> dict:
        return asdict(self)
