"""The two reference predictors that are not members: every metric must beat them.

- ``label_prior``: every enzyme gets the training frequency of each ensemble.
- ``random``: seeded uniform scores (a floor every metric must beat).

They keep only numpy values, so this module is light enough for every stage that reads
predictions (calibrate, evaluate, report).
"""

from __future__ import annotations

import numpy as np

LABEL_PRIOR = "label_prior"
RANDOM = "random"
REFERENCE_PREDICTORS = (LABEL_PRIOR, RANDOM)


def label_prior(train_labels: np.ndarray) -> np.ndarray:
    return train_labels.mean(axis=0).astype(np.float64)


def score_label_prior(prior: np.ndarray, n: int) -> np.ndarray:
    return np.tile(prior, (n, 1))


def score_random(ids, n_classes: int, seed: int) -> np.ndarray:
    """Uniform scores that depend only on (seed, id): reproducible and order-independent."""
    rows = []
    for enzyme_id in ids:
        entropy = [seed] + [ord(ch) for ch in str(enzyme_id)]
        rows.append(np.random.default_rng(entropy).random(n_classes))
    return np.array(rows).reshape(len(rows), n_classes)
