"""Train/test splits that measure both generalisation to new subjects and to new sites.

They are defined in :mod:`brainfm_lite.datasets.splits` (pretraining needs them, and ``train`` sits below
``eval``) and importable here as before: `SiteSplit`, `site_splits` (leave-sites-out folds), `evaluation_split`
(the ONE split of a cohort that its pretraining runs and evaluations share) and `pretraining_pool` (the subjects
a pretraining run may see).
"""

from brainfm_lite.datasets.splits import SiteSplit, evaluation_split, pretraining_pool, site_splits

__all__ = ["SiteSplit", "evaluation_split", "pretraining_pool", "site_splits"]
