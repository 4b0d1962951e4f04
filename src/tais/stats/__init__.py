"""Pure statistics on counts and arrays (numpy / scipy / statsmodels only): paired intervals, TOST, McNemar, Wilson,
Cohen's h, Holm, Mantel-Haenszel, power.

Functions marked vectorised in their docstrings take scalars or equal-shape (broadcastable) arrays and return the same
shape. Module map: :mod:`.paired` (the 2x2 table), :mod:`.tango` (score test and interval), :mod:`.tost` (paired
equivalence), :mod:`.mcnemar`, :mod:`.proportions` (Wilson, h, Holm), :mod:`.mantel_haenszel`, :mod:`.power`.
Sampling at temperature > 0: :mod:`.predictable` (reference laws, predictable-score Z tests), :mod:`.tempering`
(effective-temperature error theta, cluster-robust interval, TOST, sizing), :mod:`.pit` (randomised PIT,
Anderson-Darling), :mod:`.sampling_law` (the three joined with Holm), :mod:`.prompt_rates` (per-prompt outcome
rates over replicates: clustered paired difference, TOST, Cohen's h).
"""

from .mantel_haenszel import MantelHaenszel, mantel_haenszel_paired
from .mcnemar import mcnemar_exact, mcnemar_midp
from .paired import PairedTable, paired_counts, paired_table
from .power import (
    asymptotic_power_paired_tost,
    asymptotic_power_unpaired_wald_tost,
    n_paired_tost,
    n_unpaired_wald_tost,
    power_paired_tost,
)
from .proportions import cohens_h, holm, wilson_interval
from .tango import tango_interval, tango_score
from .tost import TostResult, paired_tost, tost_p_value

__all__ = [
    "MantelHaenszel",
    "PairedTable",
    "TostResult",
    "asymptotic_power_paired_tost",
    "asymptotic_power_unpaired_wald_tost",
    "cohens_h",
    "holm",
    "mantel_haenszel_paired",
    "mcnemar_exact",
    "mcnemar_midp",
    "n_paired_tost",
    "n_unpaired_wald_tost",
    "paired_counts",
    "paired_table",
    "paired_tost",
    "power_paired_tost",
    "tango_interval",
    "tango_score",
    "tost_p_value",
    "wilson_interval",
]
