"""Functional ensembles: the vocabulary of product carbon skeletons, and enzyme labels.

The vocabulary holds the K most frequent skeletons (by number of enzymes, at least
``min_support`` each) and, optionally, "other" buckets that collect the remaining
skeletons by chain-length family (carbon count rounded to the nearest multiple of 5,
diphosphates apart) so that nearly every active enzyme gets a label. Buckets with fewer
than ``min_support`` enzymes are pooled into one catch-all ``other_rare`` class.

A saved ``ensembles.tsv`` is itself the vocabulary: ``read_vocabulary`` + ``label_enzymes``
label any other export with exactly the same classes (frozen-vocabulary mode).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terpene_ensembles.data.chemistry import SmilesError, skeleton_of
from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import sha256_text

ENSEMBLE_COLUMNS = [
    "ensemble_id",
    "name",
    "definition",
    "support",
    "kind",
    "carbon_count",
    "example_products",
]
NAME_COLUMNS = ["ensemble_id", "name", "reference_product", "reference_smiles"]
ENSEMBLE_ID = re.compile(r"^[A-Za-z0-9_]+$")
SKELETON = "skeleton"
OTHER_BUCKET = "other_bucket"
CATCH_ALL_ID = "other_rare"
# Bucket rule, e.g. "other:carbons=13-17:diphosphate=no"; "any" matches everything.
BUCKET_RULE = re.compile(
    r"^other:carbons=(?P<carbons>any|\d+-\d+):diphosphate=(?P<diphosphate>any|yes|no)$"
)
EXAMPLES_PER_ENSEMBLE = 5

LABELLED = "labelled"
INACTIVE = "inactive"
NO_VOCABULARY_PRODUCT = "no_vocabulary_product"
UNKNOWN_PRODUCT = "unknown_product"


class VocabularyError(UserInputError, ValueError):
    """A names table or a saved ensembles.tsv that cannot be used."""


@dataclass(frozen=True)
class NamedSkeleton:
    ensemble_id: str
    name: str
    skeleton: str


def chain_family(carbon_count: int) -> int:
    """Isoprenoid chain-length family: carbons rounded to the nearest multiple of 5.

    C11 homoterpenes (2-methylisoborneol) join C10, C16 (methylated FPP products) C15.
    """
    return 5 * ((int(carbon_count) + 2) // 5)


def _read_commented_tsv(path: str | os.PathLike) -> pd.DataFrame:
    """TSV whose leading '#' lines are comments ('#' inside SMILES is a triple bond)."""
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    body = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not body:
        raise VocabularyError(f"{path} has no header line")
    from io import StringIO

    return pd.read_csv(StringIO("\n".join(body)), sep="\t", dtype=str, keep_default_na=False)


def load_ensemble_names(path: str | os.PathLike) -> dict[str, NamedSkeleton]:
    """Curated names: skeleton SMILES -> (ensemble id, name).

    The table lists a reference product per skeleton; its skeleton is computed here, so
    the table never goes out of step with the skeleton definition.
    """
    table = _read_commented_tsv(path)
    missing = [column for column in NAME_COLUMNS if column not in table.columns]
    if missing:
        raise VocabularyError(f"{path}: missing column(s) {', '.join(missing)}")
    named: dict[str, NamedSkeleton] = {}
    seen_ids: set[str] = set()
    for line, row in enumerate(table.itertuples(index=False), start=2):
        ensemble_id = row.ensemble_id.strip()
        if not ENSEMBLE_ID.match(ensemble_id) or ensemble_id.startswith("other"):
            raise VocabularyError(
                f"{path} row {line}: ensemble id {ensemble_id!r} must match "
                f"{ENSEMBLE_ID.pattern} and not start with 'other'"
            )
        if ensemble_id in seen_ids:
            raise VocabularyError(f"{path} row {line}: duplicate ensemble id {ensemble_id!r}")
        try:
            skeleton = skeleton_of(row.reference_smiles).smiles
        except SmilesError as error:
            raise VocabularyError(f"{path} row {line} ({ensemble_id}): {error}") from error
        if skeleton in named:
            raise VocabularyError(
                f"{path} row {line}: {ensemble_id} has the same skeleton as "
                f"{named[skeleton].ensemble_id} ({skeleton})"
            )
        seen_ids.add(ensemble_id)
        named[skeleton] = NamedSkeleton(ensemble_id, row.name.strip(), skeleton)
    return named


def systematic_name(skeleton: str) -> tuple[str, str]:
    """(ensemble id, name) for a skeleton without a curated name."""
    info = skeleton_of(skeleton)
    rings = {0: "acyclic", 1: "monocyclic", 2: "bicyclic", 3: "tricyclic", 4: "tetracyclic"}
    shape = rings.get(info.ring_count, f"{info.ring_count}-ring")
    suffix = "_diphosphate" if info.diphosphate else ""
    digest = sha256_text(skeleton)[:8]
    ensemble_id = f"C{info.carbon_count}_{shape.replace('-', '')}{suffix}_{digest}"
    name = f"unnamed {shape} C{info.carbon_count} skeleton{suffix.replace('_', ' ')} ({digest})"
    return ensemble_id, name


def _examples(products: pd.DataFrame) -> str:
    """Most common product names (by enzymes), ';'-joined."""
    counts = (
        products.groupby("product_name")["enzyme_id"]
        .nunique()
        .reset_index()
        .sort_values(["enzyme_id", "product_name"], ascending=[False, True])
    )
    names = [name.replace(";", ",") for name in counts["product_name"].head(EXAMPLES_PER_ENSEMBLE)]
    return ";".join(names)


def bucket_rule(carbons: tuple[int, int] | None, diphosphate: bool | None) -> str:
    carbon_text = "any" if carbons is None else f"{carbons[0]}-{carbons[1]}"
    diphosphate_text = "any" if diphosphate is None else ("yes" if diphosphate else "no")
    return f"other:carbons={carbon_text}:diphosphate={diphosphate_text}"


def _bucket_matches(rule: str, carbon_count: int, diphosphate: bool) -> bool:
    match = BUCKET_RULE.match(rule)
    if match is None:
        raise VocabularyError(f"not a bucket rule: {rule!r}")
    carbons = match["carbons"]
    if carbons != "any":
        low, high = (int(x) for x in carbons.split("-"))
        if not low <= carbon_count <= high:
            return False
    wanted = match["diphosphate"]
    return wanted == "any" or (wanted == "yes") == bool(diphosphate)


def build_vocabulary(
    products: pd.DataFrame,
    top_k: int = 30,
    min_support: int = 10,
    other_buckets: bool = True,
    names: Mapping[str, NamedSkeleton] | None = None,
) -> pd.DataFrame:
    """Vocabulary (ensembles.tsv layout) from product rows.

    ``products``: one row per (enzyme, product) with columns enzyme_id, product_name,
    skeleton, carbon_count, diphosphate. Ranking: enzymes per skeleton, descending; ties
    by skeleton SMILES, so the vocabulary is the same for the same input.
    """
    names = names or {}
    support = products.groupby("skeleton")["enzyme_id"].nunique()
    ranked = sorted(support.items(), key=lambda item: (-item[1], item[0]))
    chosen = [skeleton for skeleton, count in ranked if count >= min_support][:top_k]
    rows = []
    for skeleton in chosen:
        members = products[products["skeleton"] == skeleton]
        if skeleton in names:
            ensemble_id, name = names[skeleton].ensemble_id, names[skeleton].name
        else:
            ensemble_id, name = systematic_name(skeleton)
        rows.append(
            {
                "ensemble_id": ensemble_id,
                "name": name,
                "definition": skeleton,
                "support": int(support[skeleton]),
                "kind": SKELETON,
                "carbon_count": int(members["carbon_count"].iloc[0]),
                "example_products": _examples(members),
            }
        )
    if other_buckets:
        rows.extend(_bucket_rows(products[~products["skeleton"].isin(chosen)], min_support))
    vocabulary = pd.DataFrame(rows, columns=ENSEMBLE_COLUMNS)
    validate_vocabulary(vocabulary)
    return vocabulary


def _bucket_rows(rest: pd.DataFrame, min_support: int) -> list[dict]:
    """'other' classes for the skeletons left outside the top K."""
    if rest.empty:
        return []
    rest = rest.assign(
        family=rest["carbon_count"].map(chain_family), diphosphate=rest["diphosphate"].astype(bool)
    )
    rows, pooled = [], []
    for (family, diphosphate), members in rest.groupby(["family", "diphosphate"], sort=True):
        support = members["enzyme_id"].nunique()
        if support < min_support:
            pooled.append(members)
            continue
        suffix = "_diphosphate" if diphosphate else ""
        kind_text = "diphosphates" if diphosphate else "skeletons"
        rows.append(
            {
                "ensemble_id": f"other_C{family}{suffix}",
                "name": f"other C{family} {kind_text} ({family - 2}-{family + 2} carbons)",
                "definition": bucket_rule((family - 2, family + 2), diphosphate),
                "support": int(support),
                "kind": OTHER_BUCKET,
                "carbon_count": int(family),
                "example_products": _examples(members),
            }
        )
    if pooled:
        members = pd.concat(pooled)
        rows.append(
            {
                "ensemble_id": CATCH_ALL_ID,
                "name": "other rare skeletons (any chain length)",
                "definition": bucket_rule(None, None),
                "support": int(members["enzyme_id"].nunique()),
                "kind": OTHER_BUCKET,
                "carbon_count": 0,
                "example_products": _examples(members),
            }
        )
    return rows


def validate_vocabulary(vocabulary: pd.DataFrame, source: str = "vocabulary") -> None:
    """Raise VocabularyError unless ids, kinds and definitions are usable."""
    missing = [column for column in ENSEMBLE_COLUMNS if column not in vocabulary.columns]
    if missing:
        raise VocabularyError(f"{source}: missing column(s) {', '.join(missing)}")
    if vocabulary.empty:
        raise VocabularyError(f"{source}: no ensembles")
    bad_ids = [i for i in vocabulary["ensemble_id"] if not ENSEMBLE_ID.match(str(i))]
    if bad_ids:
        raise VocabularyError(
            f"{source}: ensemble ids not matching {ENSEMBLE_ID.pattern}: {bad_ids}"
        )
    duplicated = vocabulary["ensemble_id"][vocabulary["ensemble_id"].duplicated()].tolist()
    if duplicated:
        raise VocabularyError(f"{source}: duplicate ensemble ids {duplicated}")
    if "id" in set(vocabulary["ensemble_id"]):
        raise VocabularyError(f"{source}: 'id' cannot be an ensemble id (label column clash)")
    for row in vocabulary.itertuples(index=False):
        if row.kind == SKELETON:
            try:
                canonical = skeleton_of(row.definition).smiles
            except SmilesError as error:
                raise VocabularyError(f"{source}: {row.ensemble_id}: {error}") from error
            if canonical != row.definition:
                raise VocabularyError(
                    f"{source}: {row.ensemble_id}: definition {row.definition!r} is not a "
                    f"canonical skeleton (expected {canonical!r}; different RDKit version?)"
                )
        elif row.kind == OTHER_BUCKET:
            if not BUCKET_RULE.match(str(row.definition)):
                raise VocabularyError(
                    f"{source}: {row.ensemble_id}: bad bucket rule {row.definition!r}"
                )
        else:
            raise VocabularyError(f"{source}: {row.ensemble_id}: unknown kind {row.kind!r}")


def read_vocabulary(path: str | os.PathLike) -> pd.DataFrame:
    """A saved ensembles.tsv, validated (frozen-vocabulary mode)."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise VocabularyError(f"cannot read vocabulary {path}: {error}") from error
    validate_vocabulary(table, str(path))
    table["support"] = pd.to_numeric(table["support"]).astype(int)
    table["carbon_count"] = pd.to_numeric(table["carbon_count"]).astype(int)
    return table


def assign_ensembles(products: pd.DataFrame, vocabulary: pd.DataFrame) -> pd.Series:
    """Ensemble id of each product row (skeleton first, then buckets in order), or None."""
    skeleton_ids = {
        row.definition: row.ensemble_id
        for row in vocabulary.itertuples(index=False)
        if row.kind == SKELETON
    }
    buckets = [
        (row.ensemble_id, row.definition)
        for row in vocabulary.itertuples(index=False)
        if row.kind == OTHER_BUCKET
    ]
    # Specific buckets before the catch-all, whatever the table order.
    buckets.sort(key=lambda item: item[1] == bucket_rule(None, None))

    def assign(skeleton: str, carbon_count: int, diphosphate: bool) -> str | None:
        if skeleton in skeleton_ids:
            return skeleton_ids[skeleton]
        for ensemble_id, rule in buckets:
            if _bucket_matches(rule, carbon_count, diphosphate):
                return ensemble_id
        return None

    assigned = [
        assign(s, c, d)
        for s, c, d in zip(
            products["skeleton"], products["carbon_count"], products["diphosphate"], strict=True
        )
    ]
    return pd.Series(assigned, index=products.index, dtype=object)


def label_enzymes(
    enzymes: pd.DataFrame, products: pd.DataFrame, vocabulary: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series]:
    """(labels, label_status) for every enzyme.

    labels: ``id`` + one int8 0/1 column per ensemble, in vocabulary order, rows in
    ``enzymes`` order. label_status: labelled | inactive | no_vocabulary_product |
    unknown_product.
    """
    ensemble_ids = list(vocabulary["ensemble_id"])
    matrix = np.zeros((len(enzymes), len(ensemble_ids)), dtype=np.int8)
    row_of = {enzyme_id: i for i, enzyme_id in enumerate(enzymes["id"])}
    column_of = {ensemble_id: j for j, ensemble_id in enumerate(ensemble_ids)}
    assigned = assign_ensembles(products, vocabulary)
    for enzyme_id, ensemble_id in zip(products["enzyme_id"], assigned, strict=True):
        if ensemble_id is not None:
            matrix[row_of[enzyme_id], column_of[ensemble_id]] = 1
    labels = pd.DataFrame(matrix, columns=ensemble_ids)
    labels.insert(0, "id", enzymes["id"].to_numpy())
    has_label = matrix.any(axis=1)
    status = np.where(
        enzymes["inactive"].to_numpy(dtype=bool),
        INACTIVE,
        np.where(
            has_label,
            LABELLED,
            np.where(
                enzymes["has_known_product"].to_numpy(dtype=bool),
                NO_VOCABULARY_PRODUCT,
                UNKNOWN_PRODUCT,
            ),
        ),
    )
    return labels, pd.Series(status, index=enzymes.index, name="label_status")


def coverage(labels: pd.DataFrame, enzymes: pd.DataFrame, vocabulary: pd.DataFrame) -> dict:
    """Share of enzymes with a known product that get a label (all classes, skeletons)."""
    with_product = enzymes["has_known_product"].to_numpy(dtype=bool)
    n = int(with_product.sum())
    skeleton_columns = list(vocabulary.loc[vocabulary["kind"] == SKELETON, "ensemble_id"])
    all_columns = list(vocabulary["ensemble_id"])
    values = labels.loc[with_product]

    def share(columns: list[str]) -> float:
        if n == 0 or not columns:
            return 0.0
        return round(float(values[columns].to_numpy().any(axis=1).mean()), 4)

    return {
        "enzymes_with_product": n,
        "all_classes": share(all_columns),
        "skeleton_classes": share(skeleton_columns),
    }
