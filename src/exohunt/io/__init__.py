"""Readers: :func:`read_dataset` turns any supported file or folder into a :class:`Dataset`.

Formats (see :data:`FORMATS`): NASA Exoplanet Archive tables (``koi``, ``tce``, ``toi``, ``k2``),
the AstroNet-Triage TCE table (``astronet-tces``) and view archive (``views``), generic CSVs
(``flux-csv``, ``catalogue-csv``), the Kaggle wide format (``kaggle``), and light curves
(``fits``, ``jsonl``, ``lightcurve-folder``).
"""

from exohunt.io.read import FORMATS, bundled_koi_path, detect_format, read_dataset

__all__ = ["FORMATS", "bundled_koi_path", "detect_format", "read_dataset"]
