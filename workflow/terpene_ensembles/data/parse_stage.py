"""The parse stage end to end: MARTS-DB export -> enzymes, labels, ensembles, rejections.

Also the entry point the predict stage reuses to label another export with a frozen
(saved) vocabulary: ``label_export``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import pandas as pd
from rdkit import rdBase

from terpene_ensembles.data import ensembles as ens
from terpene_ensembles.data import marts
from terpene_ensembles.io_utils import sha256_file
from terpene_ensembles.settings import ParseConfig

log = logging.getLogger(__name__)

# Contract columns of enzymes.parquet first (other stages rely on them), extras after.
ENZYME_COLUMNS = [
    "id",
    "aliases",
    "sequence",
    "sequence_sha256",
    "length",
    "kingdom",
    "species",
    "enzyme_name",
    "types",
    "substrate_family",
    "inactive",
    "label_status",
    "has_known_product",
    "uniprot_ids",
    "genbank_ids",
    "substrates",
    "product_names",
    "product_skeletons",
    "source_rows",
]
# Label coverage targets: share of enzymes with a product that get a label.
COVERAGE_TARGETS = {"top_k_skeletons_only": 0.80, "with_other_buckets": 0.95}
# Settings recorded in summary.json (the names file is an input of its own).
SUMMARY_SETTINGS = (
    "top_k",
    "min_support",
    "include_minor_products",
    "other_buckets",
    "frozen_vocabulary",
)


@dataclass
class ParseOutputs:
    enzymes: pd.DataFrame
    labels: pd.DataFrame
    vocabulary: pd.DataFrame
    rejected: pd.DataFrame
    summary: dict


def product_rows(parsed: marts.ParsedMarts, enzymes: pd.DataFrame) -> pd.DataFrame:
    """Product reactions with their enzyme id (the input of vocabulary and labels)."""
    reactions = parsed.reactions
    products = reactions[reactions["outcome"] == "product"].copy()
    products["enzyme_id"] = marts.enzyme_of_reaction(products, enzymes)
    return products[
        ["enzyme_id", "source_row", "product_name", "skeleton", "carbon_count", "diphosphate"]
    ].reset_index(drop=True)


def _with_support(vocabulary: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Frozen vocabulary with support recounted on this export."""
    counted = vocabulary.copy()
    counted["support"] = [int(labels[i].sum()) for i in counted["ensemble_id"]]
    return counted


def run_parse(
    marts_path: str | os.PathLike,
    names_path: str | os.PathLike | None,
    settings: ParseConfig | dict | None = None,
) -> ParseOutputs:
    """Everything the parse stage writes, computed in memory."""
    settings = ParseConfig.from_config(settings)
    include_minor = bool(settings.include_minor_products)
    enzymes, parsed = marts.read_enzymes(marts_path, include_minor)
    products = product_rows(parsed, enzymes)
    frozen = settings.frozen_vocabulary

    def vocabulary_with(other_buckets: bool) -> pd.DataFrame:
        names = ens.load_ensemble_names(names_path) if names_path else {}
        return ens.build_vocabulary(
            products,
            top_k=int(settings.top_k),
            min_support=int(settings.min_support),
            other_buckets=other_buckets,
            names=names,
        )

    if frozen:
        vocabulary = ens.read_vocabulary(frozen)
    else:
        vocabulary = vocabulary_with(bool(settings.other_buckets))
    labels, status = ens.label_enzymes(enzymes, products, vocabulary)
    if frozen:
        vocabulary = _with_support(vocabulary, labels)
    enzymes = enzymes.assign(label_status=status)[ENZYME_COLUMNS]

    measured = ens.coverage(labels, enzymes, vocabulary)
    coverage_detail = {
        "enzymes_with_product": measured["enzymes_with_product"],
        "configured_vocabulary": measured["all_classes"],
        "top_k_skeletons_only": measured["skeleton_classes"],
        "with_other_buckets": None,
        "targets": COVERAGE_TARGETS,
    }
    has_buckets = bool((vocabulary["kind"] == ens.OTHER_BUCKET).any())
    if has_buckets:
        coverage_detail["with_other_buckets"] = measured["all_classes"]
    elif not frozen:
        # Measure what the buckets would add, so both targets are numbers every run.
        bucketed = vocabulary_with(True)
        bucket_labels, _ = ens.label_enzymes(enzymes, products, bucketed)
        coverage_detail["with_other_buckets"] = ens.coverage(bucket_labels, enzymes, bucketed)[
            "all_classes"
        ]
    coverage_detail["meets_targets"] = {
        key: (coverage_detail[key] is not None and coverage_detail[key] >= target)
        for key, target in COVERAGE_TARGETS.items()
    }

    rows_used = len(parsed.reactions)
    rows_rejected = len(parsed.rejected)
    if rows_used + rows_rejected != parsed.rows_in:
        raise AssertionError(
            f"row accounting broken: {parsed.rows_in} in, {rows_used} used, "
            f"{rows_rejected} rejected"
        )
    skeleton_classes = vocabulary[vocabulary["kind"] == ens.SKELETON]
    min_support = int(settings.min_support)
    summary = {
        "input": str(marts_path),
        "input_sha256": sha256_file(marts_path),
        "rdkit_version": rdBase.rdkitVersion,
        "rows_in": parsed.rows_in,
        "rows_used": rows_used,
        "rows_rejected": rows_rejected,
        "rejected_by_reason": {
            str(k): int(v) for k, v in parsed.rejected["reason"].value_counts().sort_index().items()
        },
        "enzymes": len(enzymes),
        "enzymes_by_label_status": {
            str(k): int(v) for k, v in enzymes["label_status"].value_counts().sort_index().items()
        },
        "label_coverage": measured["all_classes"],
        "label_coverage_detail": coverage_detail,
        "n_classes": len(vocabulary),
        "n_skeleton_classes": len(skeleton_classes),
        "n_other_buckets": int((vocabulary["kind"] == ens.OTHER_BUCKET).sum()),
        "min_skeleton_class_support": int(skeleton_classes["support"].min())
        if len(skeleton_classes)
        else 0,
        "skeleton_classes_below_min_support": sorted(
            skeleton_classes.loc[skeleton_classes["support"] < min_support, "ensemble_id"]
        ),
        "distinct_skeletons": int(products["skeleton"].nunique()),
        "rows_with_several_substrates": parsed.notes["rows_with_several_substrates"],
        "renamed_ids": parsed.notes.get("renamed_ids", {}),
        "frozen_vocabulary": str(frozen) if frozen else None,
        "settings": {k: getattr(settings, k) for k in SUMMARY_SETTINGS},
    }
    return ParseOutputs(enzymes, labels, vocabulary, parsed.rejected, summary)


def label_export(
    marts_path: str | os.PathLike,
    ensembles_tsv: str | os.PathLike,
    include_minor_products: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label another MARTS-DB export with a saved vocabulary: (enzymes, labels)."""
    outputs = run_parse(
        marts_path,
        None,
        {"frozen_vocabulary": str(ensembles_tsv), "include_minor_products": include_minor_products},
    )
    return outputs.enzymes, outputs.labels
