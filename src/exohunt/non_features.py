"""The columns that must never become features: they leak the answer, identify rows, or carry no
physics. Shared by the feature steps (:mod:`exohunt.features`, :mod:`exohunt.physics`) and the
training path, which adds the format's own (:data:`NON_FEATURE_COLUMNS_BY_FORMAT`).
"""

from __future__ import annotations

import fnmatch

#: Columns that must never become features: they reveal the answer (dispositions, vetting scores
#: and flags, names given only to confirmed planets, publication dates of confirmed planets' masses)
#: or identify rows and stars, or are absolute times that carry no physics.
NON_FEATURE_COLUMNS = (
    # labels and label-derived values
    "label",
    "disposition",
    "koi_disposition",
    "koi_pdisposition",
    "koi_score",
    "koi_fpflag_*",
    "tfopwg_disp",
    "av_training_set",
    "av_pred_class",
    "disp_*",
    "soltype",
    # names and ids
    "kepid",
    "kepoi_name",
    "kepler_name",
    "kic",
    "koi_tce_plnt_num",
    "koi_tce_delivname",
    "tce_plnt_num",
    "rowid",
    "row_id",
    "toi",
    "toi_id",
    "tid",
    "tic_id",
    "star_id",
    "id",
    "name",
    "pl_name",
    "hostname",
    "target",
    "source_shard",
    "default_flag",
    # only confirmed planets get masses, discovery records and publication dates
    "pl_bmass*",
    "pl_masse*",
    "pl_massj*",
    "disc*",
    "*pubdate",
    "releasedate",
    "rowupdate",
    "toi_created",
    "sy_pnum",
    "*refname",
    # absolute times of transit: an epoch, not a property of the system
    "transit_epoch",
    "transit_epoch_*",
    "*time0*",
    "pl_tranmid*",
)


#: Further non-features of one format. The K2 planets-and-candidates table compiles published
#: parameters: confirmed planets carry refined values with uncertainties and limit flags that
#: candidates and false positives lack, so those columns reveal the disposition (a Random Forest
#: reaches average precision 0.998 on them alone).
NON_FEATURE_COLUMNS_BY_FORMAT = {
    "k2": (
        *("*err", "*err1", "*err2", "*errlim", "*lim", "pl_radj", "pl_controv_flag"),
        *("ttv_flag", "pl_orbeccen", "pl_orbsmax", "pl_insol", "pl_eqt"),  # derived on confirmation
        "candidates_on_star",  # like sy_pnum: confirmed systems are listed whole
    ),
    # The TESS Triage metadata's Sectors records the TCE search and labelling batch a row came
    # from: batch "5" holds no junk at all and is 52% PC (2% elsewhere).
    "views": ("Sectors",),
}


def is_non_feature(column: str, patterns: tuple[str, ...] = NON_FEATURE_COLUMNS) -> bool:
    """True if ``column`` matches one of ``patterns`` (default: the columns never used as
    features), case-insensitively."""
    name = column.lower()
    return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in patterns)
