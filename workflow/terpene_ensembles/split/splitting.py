"""Homology-grouped, label-stratified splits: whole clusters go to train/val/test or CV folds.

The assignment is a grouped variant of iterative stratification (Sechidis et al. 2011):

1. Clusters too large to sit in the smallest split without swamping it (more than half of
   its target size) are placed first, largest first, each into the split with the most
   room left; for train/val/test that is train, which is where they can do least harm.
2. Then, label by label, rarest first (clusters carrying it among those still open),
   every open cluster carrying that label goes to the split whose *relative* unmet demand
   for the label is largest, among the splits that still have room for it (ties: absolute
   unmet demand, so a label's first cluster goes to train, then relative unmet size).
   Relative demand makes val and test receive a positive cluster of a rare label early,
   so every label reaches every split whenever it has enough clusters.
3. Clusters without any positive fill the splits by relative unmet size.
4. Repair: a split still lacking a label takes the smallest carrier cluster from a split
   that has several, if that leaves every label of the old split represented and the
   receiving split within twice the size tolerance.

Within a label, larger clusters go first; equal ones in a seeded random order, so the
seed changes the split and the same seed always gives the same split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from terpene_ensembles.errors import ConfigError

# A cluster larger than this share of the smallest split's target size is placed up front.
LARGE_CLUSTER_SHARE = 0.5
# A split may overshoot its target size by this share before it stops taking clusters.
CAPACITY_TOLERANCE = 0.1


def assign_grouped_stratified(
    groups: Sequence,
    labels: np.ndarray,
    fractions: Mapping[str, float],
    seed: int,
) -> np.ndarray:
    """Return one split name per item; items of one group always share a split.

    ``labels`` is an (items x labels) 0/1 matrix; ``fractions`` maps split name to its target
    share of items (normalised to sum 1; dict order is the tie-break order).
    """
    groups = pd.Series(list(groups), dtype="object").astype(str)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 2 or labels.shape[0] != len(groups):
        raise ValueError(
            f"labels must be (items x labels); got {labels.shape} for {len(groups)} items"
        )
    if not fractions or any(f <= 0 for f in fractions.values()):
        raise ConfigError(f"every split fraction must be positive: {dict(fractions)}")
    split_names = list(fractions)
    shares = np.array([fractions[s] for s in split_names], dtype=float)
    shares = shares / shares.sum()

    group_ids, item_group = np.unique(groups.to_numpy(), return_inverse=True)
    n_groups, n_labels = len(group_ids), labels.shape[1]
    group_size = np.bincount(item_group, minlength=n_groups).astype(float)
    group_labels = np.zeros((n_groups, n_labels), dtype=float)
    np.add.at(group_labels, item_group, labels)

    desired_size = shares * len(groups)
    desired_labels = np.outer(shares, group_labels.sum(axis=0))
    remaining_size = desired_size.copy()
    remaining_labels = desired_labels.copy()
    assignment = np.full(n_groups, -1, dtype=int)
    tiebreak = np.random.default_rng(seed).permutation(n_groups)
    split_order = np.arange(len(split_names))

    def place(group: int, split: int) -> None:
        assignment[group] = split
        remaining_size[split] -= group_size[group]
        remaining_labels[split] -= group_labels[group]

    def has_room(group: int) -> np.ndarray:
        return remaining_size + CAPACITY_TOLERANCE * desired_size >= group_size[group]

    def relative(remaining: np.ndarray, desired: np.ndarray) -> np.ndarray:
        return np.divide(remaining, desired, out=np.zeros_like(remaining), where=desired > 0)

    def best_split(group: int, label: int | None) -> int:
        room = has_room(group)
        if not room.any():
            return int(np.argmax(remaining_size))
        size_need = relative(remaining_size, desired_size)
        if label is None:
            keys = (-split_order, size_need)
        else:
            label_need = relative(remaining_labels[:, label], desired_labels[:, label])
            # Equal relative need (e.g. a label's first cluster): the split wanting the most
            # positives wins, so a label with a single cluster is learnt, not only tested.
            keys = (-split_order, size_need, remaining_labels[:, label], label_need)
        ranking = np.lexsort(keys)[::-1]  # last key is primary; highest first
        return int(next(s for s in ranking if room[s]))

    large = np.flatnonzero(group_size > LARGE_CLUSTER_SHARE * desired_size.min())
    for group in sorted(large, key=lambda g: (-group_size[g], tiebreak[g])):
        place(group, int(np.lexsort((-split_order, remaining_size))[-1]))

    while True:
        open_groups = assignment < 0
        positives = group_labels[open_groups].sum(axis=0)
        if not (positives > 0).any():
            break
        carriers_open = (group_labels[open_groups] > 0).sum(axis=0)
        # Rarest first in clusters (the unit that is placed), then in positives.
        rarity = np.where(positives > 0, carriers_open * 1e6 + positives, np.inf)
        label = int(np.argmin(rarity))
        carriers = np.flatnonzero(open_groups & (group_labels[:, label] > 0))
        order = sorted(
            carriers, key=lambda g: (-group_labels[g, label], -group_size[g], tiebreak[g])
        )
        for group in order:
            place(group, best_split(group, label))

    for group in sorted(
        np.flatnonzero(assignment < 0), key=lambda g: (-group_size[g], tiebreak[g])
    ):
        place(group, best_split(group, None))

    _repair_missing_labels(assignment, group_size, group_labels, desired_size, tiebreak)
    return np.array(split_names, dtype=object)[assignment[item_group]]


def _repair_missing_labels(assignment, group_size, group_labels, desired_size, tiebreak) -> None:
    """Give a split that lacks a label one carrier cluster from a split that has several.

    The moved cluster is the smallest that leaves no label it carries without positives in
    its old split and keeps the receiving split within twice the usual size tolerance.
    """
    n_splits, n_labels = len(desired_size), group_labels.shape[1]
    limit = desired_size * (1 + 2 * CAPACITY_TOLERANCE)
    for label in range(n_labels):
        for target in range(n_splits):
            carriers = np.flatnonzero(group_labels[:, label] > 0)
            if (assignment[carriers] == target).any() or len(carriers) < 2:
                continue
            target_size = group_size[assignment == target].sum()
            candidates = []
            for group in carriers:
                source = assignment[group]
                others = (assignment == source) & (np.arange(len(assignment)) != group)
                keeps_labels = group_labels[others].sum(axis=0)[group_labels[group] > 0] > 0
                if keeps_labels.all() and target_size + group_size[group] <= limit[target]:
                    candidates.append(group)
            if candidates:
                best = min(candidates, key=lambda g: (group_size[g], tiebreak[g]))
                assignment[best] = target


def train_val_test_split(
    groups: Sequence, labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    train_fraction = 1.0 - val_fraction - test_fraction
    if train_fraction <= 0:
        raise ConfigError(
            f"val_fraction + test_fraction must be < 1: {val_fraction} + {test_fraction}"
        )
    fractions = {"train": train_fraction, "val": val_fraction, "test": test_fraction}
    return assign_grouped_stratified(groups, labels, fractions, seed)


def grouped_folds(groups: Sequence, labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) per item, groups never shared between folds."""
    if n_folds < 2:
        raise ConfigError(f"n_folds must be at least 2: {n_folds}", where="split.cv_folds")
    fractions = {str(fold): 1.0 for fold in range(n_folds)}
    return assign_grouped_stratified(groups, labels, fractions, seed).astype(int)


def stratification_matrix(
    labels: pd.DataFrame, substrate_family: pd.Series | None = None
) -> tuple[np.ndarray, list[str]]:
    """Ensemble label columns, plus one indicator per substrate family (a label, not a feature).

    Balancing substrate families too keeps the substrate-level view evaluable on test.
    """
    matrix = labels.to_numpy(dtype=np.int64)
    names = list(labels.columns)
    if substrate_family is not None:
        families = substrate_family.fillna("none").astype(str)
        for family in sorted(families.unique()):
            if family == "none":
                continue
            matrix = np.column_stack([matrix, (families == family).to_numpy(dtype=np.int64)])
            names.append(f"substrate:{family}")
    return matrix, names


def split_label_report(
    assignment: Sequence, groups: Sequence, labels: pd.DataFrame, split_names: Sequence
) -> dict:
    """Enzymes, clusters and positives per label in each split; labels a split lacks."""
    frame = labels.copy()
    frame["_split"] = list(assignment)
    frame["_group"] = list(groups)
    report: dict = {"enzymes": {}, "clusters": {}, "label_counts": {}, "missing_positives": {}}
    carrier_clusters = {
        column: int(frame.loc[frame[column] > 0, "_group"].nunique()) for column in labels.columns
    }
    for split in split_names:
        part = frame[frame["_split"] == split]
        report["enzymes"][str(split)] = int(len(part))
        report["clusters"][str(split)] = int(part["_group"].nunique())
        counts = {column: int(part[column].sum()) for column in labels.columns}
        report["label_counts"][str(split)] = counts
        report["missing_positives"][str(split)] = [
            {"label": column, "clusters_with_positives": carrier_clusters[column]}
            for column, count in counts.items()
            if count == 0
        ]
    return report


def straddling_groups(assignment: Sequence, groups: Sequence) -> list[str]:
    """Groups whose members landed in more than one split (must be empty)."""
    frame = pd.DataFrame({"split": list(assignment), "group": list(groups)})
    per_group = frame.groupby("group")["split"].nunique()
    return sorted(per_group[per_group > 1].index.astype(str))
