"""The team services, built on training and tracking; nothing below imports them.

- :mod:`~exohunt.services.server`: ``exohunt server``, one MLflow tracking server for a team.
- :mod:`~exohunt.services.sweep`: ``exohunt sweep``, Optuna hyperparameter searches, tracked.
- :mod:`~exohunt.services.ui`: ``exohunt ui``, the MLflow UI on the tracking store.
- :mod:`~exohunt.services.distributed`: ``exohunt features``, light-curve features in chunks.
"""
