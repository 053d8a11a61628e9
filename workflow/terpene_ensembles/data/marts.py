"""Read and validate a MARTS-DB reactions export; merge its rows into enzymes.

A MARTS-DB export has one row per (enzyme, substrate, product) reaction. This module

* reads the CSV robustly (BOM, CRLF, quoted newlines, extra columns, any column order)
  and fails loudly, naming the missing columns, on a file that is not such an export;
* normalises each row (identifier and sequence whitespace, ``*`` stop marks, case) and
  either keeps it or rejects it with a reason (every input row ends up in exactly one of
  the two tables);
* merges the kept rows into one enzyme per distinct sequence, every source id kept as an
  alias.

Product chemistry (the carbon skeleton of each product) comes from ``chemistry``; the
ensemble vocabulary and the labels from ``ensembles``.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from terpene_ensembles.data.chemistry import SmilesError, skeleton_of
from terpene_ensembles.data.input_format import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, delimiter
from terpene_ensembles.errors import UserInputError
from terpene_ensembles.io_utils import sha256_text

log = logging.getLogger(__name__)
GZIP_MAGIC = b"\x1f\x8b"

# The 20 standard residues plus the IUPAC ambiguity / rare codes ESM's alphabet knows.
AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY" + "XBZUO")
# Placeholders that spreadsheets and exports write into empty fields.
MISSING_VALUES = frozenset({"", "null", "none", "nan", "na", "n/a", "-"})
NEGATIVE = "negative"
UNKNOWN = "unknown"

# MARTS-DB `Type` (substrate / chain-length family) -> carbon family of the substrate.
TYPE_FAMILIES = {
    "hemi": "C5",
    "mono": "C10",
    "gpps": "C10",
    "sesq": "C15",
    "fpps": "C15",
    "di": "C20",
    "di-int": "C20",
    "ggpps": "C20",
    "sester": "C25",
    "gfpps": "C25",
    "tri": "C30",
    "hsqs": "C30",
    "sesquar": "C35",
    "tetra": "C40",
    "tetra-int": "C40",
}
NO_FAMILY = "none"
UNKNOWN_FAMILY = "unknown"

MINOR_YIELD = re.compile(r"^\s*(minor|trace)", re.IGNORECASE)

# Rejection reasons (the rejected.tsv `reason` column).
REASON_MISSING_ID = "missing_identifier"
REASON_EMPTY_SEQUENCE = "empty_sequence"
REASON_INVALID_RESIDUES = "invalid_residues"
REASON_EMPTY_PRODUCT = "empty_product_smiles"
REASON_BAD_SMILES = "unparsable_product_smiles"
REASON_NEGATIVE_WITH_PRODUCT = "negative_type_with_product"
REASON_MINOR_EXCLUDED = "minor_product_excluded"

REACTION_COLUMNS = [
    "source_row",
    "source_id",
    "sequence",
    "outcome",  # product | negative | unknown
    "product_name",
    "product_smiles",
    "skeleton",
    "carbon_count",
    "diphosphate",
    "minor",
    "type",
    "substrates",
    "uniprot_id",
    "genbank_id",
    "kingdom",
    "species",
    "enzyme_name",
]
REJECTED_COLUMNS = [
    "source_row",
    "reason",
    "detail",
    "enzyme_id",
    "product_name",
    "product_smiles",
]


class MartsFormatError(UserInputError, ValueError):
    """The input is not a readable MARTS-DB reactions export."""

    fix = (
        "give a MARTS-DB reactions export (CSV with at least the columns Enzyme_marts_ID, "
        "Aminoacid_sequence, Product_smiles; config key marts_csv)"
    )


@dataclass
class ParsedMarts:
    """Result of reading one export: kept reactions, rejected rows, counts."""

    reactions: pd.DataFrame  # one row per kept input row (REACTION_COLUMNS)
    rejected: pd.DataFrame  # one row per rejected input row (REJECTED_COLUMNS)
    rows_in: int
    notes: dict = field(default_factory=dict)


def _clean(value: str) -> str:
    """Strip surrounding whitespace and turn export placeholders ('null', ...) into ''."""
    text = str(value).strip()
    return "" if text.lower() in MISSING_VALUES else text


def read_marts_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read the raw export as strings with canonical column names.

    Raises MartsFormatError for unreadable files and for files missing required columns.
    """
    try:
        raw = Path(path).read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as error:
        raise MartsFormatError(f"cannot read MARTS-DB export {path}: {error}") from error
    try:
        text = raw.decode("utf-8-sig")  # drops a byte-order mark
    except UnicodeDecodeError as error:
        raise MartsFormatError(
            f"{path} is not a MARTS-DB reactions export: not UTF-8 text ({error})"
        ) from error
    if not text.strip():
        raise MartsFormatError(f"{path} is empty, not a MARTS-DB reactions export")
    try:
        table = pd.read_csv(
            io.StringIO(text, newline=""),  # universal newlines off: quoted CR/LF survive
            sep=delimiter(text.lstrip().split("\n", 1)[0]),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            quoting=csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise MartsFormatError(
            f"{path} is not a MARTS-DB reactions export: CSV parse error ({error})"
        ) from error
    by_lower = {}
    for column in table.columns:
        by_lower.setdefault(str(column).strip().lower(), column)
    renames = {}
    for wanted in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        found = by_lower.get(wanted.lower())
        if found is not None:
            renames[found] = wanted
    missing = [column for column in REQUIRED_COLUMNS if column.lower() not in by_lower]
    if missing:
        found_columns = ", ".join(str(c) for c in table.columns[:12])
        raise MartsFormatError(
            f"{path} is not a MARTS-DB reactions export: missing column(s) "
            f"{', '.join(missing)} (found: {found_columns})"
        )
    table = table.rename(columns=renames)
    for column in OPTIONAL_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    if table.empty:
        raise MartsFormatError(f"{path} has the MARTS-DB columns but no reaction rows")
    return table[list(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)].fillna("")


def normalize_sequence(raw: str) -> str:
    """Uppercase, all whitespace removed (also line breaks), trailing '*' stop marks cut."""
    sequence = re.sub(r"\s+", "", str(raw)).upper()
    if sequence.lower() in MISSING_VALUES:
        return ""
    return sequence.rstrip("*")


def invalid_residues(sequence: str) -> list[str]:
    """Characters of ``sequence`` outside the amino-acid alphabet, sorted, once each."""
    return sorted(set(sequence) - AMINO_ACIDS)


def split_substrates(field_value: str) -> list[str]:
    """'isopentenyl PP; (2E,6E)-FPP' -> ['isopentenyl PP', '(2E,6E)-FPP']."""
    return [part.strip() for part in str(field_value).split(";") if _clean(part)]


def is_minor_yield(yield_text: str) -> bool:
    """Whether MARTS' free-text yield marks a minor or trace product."""
    return bool(MINOR_YIELD.match(str(yield_text)))


def substrate_family(types: list[str]) -> str:
    """Chain-length family from MARTS `Type` values, e.g. ['mono', 'sesq'] -> 'C10+C15'."""
    families = set()
    for value in types:
        key = value.strip().lower()
        if key == NEGATIVE or not key:
            continue
        families.add(TYPE_FAMILIES.get(key, UNKNOWN_FAMILY))
    if not families:
        return NO_FAMILY

    def order(family: str) -> tuple[int, str]:
        return (int(family[1:]), family) if family[1:].isdigit() else (10**6, family)

    return "+".join(sorted(families, key=order))


def _rejection(reason, detail, source_row, source_id, product_name, product_smiles) -> dict:
    return {
        "source_row": source_row,
        "reason": reason,
        "detail": detail,
        "enzyme_id": source_id,
        "product_name": product_name,
        "product_smiles": product_smiles,
    }


def parse_reactions(
    table: pd.DataFrame, include_minor_products: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate every row: (kept reactions, rejected rows with reasons)."""
    kept: list[dict] = []
    rejected: list[dict] = []
    for index, row in enumerate(table.itertuples(index=False)):
        record = row._asdict()
        source_row = index + 1
        source_id = str(record["Enzyme_marts_ID"]).strip()
        if _clean(source_id) == "":
            source_id = _clean(record["Uniprot_ID"]) or _clean(record["Genbank_ID"])
        product_name = str(record["Product_name"]).strip()
        product_smiles = str(record["Product_smiles"]).strip()

        context = (source_row, source_id, product_name, product_smiles)

        def reject(reason: str, detail: str = "", context=context) -> None:
            rejected.append(_rejection(reason, detail, *context))

        if not source_id:
            reject(REASON_MISSING_ID, "Enzyme_marts_ID, Uniprot_ID and Genbank_ID all empty")
            continue
        sequence = normalize_sequence(record["Aminoacid_sequence"])
        if not sequence:
            reject(REASON_EMPTY_SEQUENCE)
            continue
        bad = invalid_residues(sequence)
        if bad:
            reject(REASON_INVALID_RESIDUES, "".join(bad))
            continue

        type_value = str(record["Type"]).strip()
        type_negative = type_value.lower() == NEGATIVE
        product_key = product_smiles.lower()
        skeleton = None
        if product_key == NEGATIVE:
            outcome = NEGATIVE
        elif product_key == UNKNOWN or (
            product_key == "" and product_name.lower() in {UNKNOWN, NEGATIVE}
        ):
            # MARTS marks inactive enzymes with Type 'Negative' and an 'Unknown' product.
            outcome = NEGATIVE if type_negative or product_name.lower() == NEGATIVE else UNKNOWN
        elif product_key == "":
            reject(REASON_EMPTY_PRODUCT, f"product name {product_name!r} without SMILES")
            continue
        else:
            if type_negative:
                reject(REASON_NEGATIVE_WITH_PRODUCT, "Type says Negative but a product is given")
                continue
            try:
                skeleton = skeleton_of(product_smiles)
            except SmilesError as error:
                reject(REASON_BAD_SMILES, str(error))
                continue
            outcome = "product"
        kept.append(
            {
                "source_row": source_row,
                "source_id": source_id,
                "sequence": sequence,
                "outcome": outcome,
                "product_name": product_name,
                "product_smiles": product_smiles,
                "skeleton": skeleton.smiles if skeleton else None,
                "carbon_count": skeleton.carbon_count if skeleton else None,
                "diphosphate": skeleton.diphosphate if skeleton else None,
                "minor": is_minor_yield(record["Product_yield"]),
                "type": type_value,
                "substrates": split_substrates(record["Substrate_name"]),
                "uniprot_id": _clean(record["Uniprot_ID"]),
                "genbank_id": _clean(record["Genbank_ID"]),
                "kingdom": _clean(record["Kingdom"]),
                "species": _clean(record["Species"]),
                "enzyme_name": _clean(record["Enzyme_name"]),
            }
        )
    reactions = pd.DataFrame(kept, columns=REACTION_COLUMNS)
    reactions["carbon_count"] = reactions["carbon_count"].astype("Int64")
    if not include_minor_products and not reactions.empty:
        reactions, dropped = _drop_minor_products(reactions)
        for row in dropped.itertuples(index=False):
            rejected.append(
                _rejection(
                    REASON_MINOR_EXCLUDED,
                    "include_minor_products is off",
                    row.source_row,
                    row.source_id,
                    row.product_name,
                    row.product_smiles,
                )
            )
    rejected_frame = pd.DataFrame(rejected, columns=REJECTED_COLUMNS)
    rejected_frame = rejected_frame.sort_values("source_row", kind="stable").reset_index(drop=True)
    return reactions.reset_index(drop=True), rejected_frame


def _drop_minor_products(reactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop minor-product rows of enzymes that also have a product not marked minor.

    An enzyme whose every reported product is minor keeps them: its main product was not
    identified, and the minor ones are still the best evidence of what it makes.
    """
    is_product = reactions["outcome"] == "product"
    has_major = (is_product & ~reactions["minor"]).groupby(reactions["sequence"]).transform("any")
    drop = is_product & reactions["minor"] & has_major
    return reactions[~drop], reactions[drop]


def _first_nonempty(values: pd.Series) -> str:
    for value in values:
        if value:
            return value
    return ""


def _unique(values) -> list:
    """Distinct values in first-seen order, empty ones left out."""
    return list(dict.fromkeys(v for v in values if v))


def merge_enzymes(reactions: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """One enzyme per distinct sequence; returns (enzymes, renamed ids).

    ``id`` is the first-seen source id. When one source id carries several different
    sequences (a curation error, e.g. a sequence pasted twice), the later sequences get
    ``<id>__seq2``, ``<id>__seq3``... so ids stay unique; the mapping is returned.
    """
    enzymes = []
    used_ids: set[str] = set()
    renamed: dict[str, str] = {}
    for sequence, group in reactions.groupby("sequence", sort=False):
        products = group[group["outcome"] == "product"]
        negative = bool((group["outcome"] == NEGATIVE).any())
        first_id = group["source_id"].iloc[0]
        enzyme_id = first_id
        copy = 1
        while enzyme_id in used_ids:
            copy += 1
            enzyme_id = f"{first_id}__seq{copy}"
        if enzyme_id != first_id:
            renamed[enzyme_id] = first_id
        used_ids.add(enzyme_id)
        types = sorted(set(t for t in group["type"] if t))
        substrates = _unique(s for names in group["substrates"] for s in names)
        enzymes.append(
            {
                "id": enzyme_id,
                "aliases": _unique(group["source_id"]),
                "sequence": sequence,
                "sequence_sha256": sha256_text(sequence),
                "length": len(sequence),
                "kingdom": _first_nonempty(group["kingdom"]),
                "species": _first_nonempty(group["species"]),
                "enzyme_name": _first_nonempty(group["enzyme_name"]),
                "types": types,
                "substrate_family": substrate_family(types),
                # Reported inactive: only 'Negative' outcomes, no product anywhere.
                "inactive": negative and products.empty,
                "has_known_product": not products.empty,
                "uniprot_ids": _unique(group["uniprot_id"]),
                "genbank_ids": _unique(group["genbank_id"]),
                "substrates": substrates,
                "product_names": _unique(products["product_name"]),
                "product_skeletons": _unique(products["skeleton"]),
                "source_rows": [int(r) for r in group["source_row"]],
            }
        )
    frame = pd.DataFrame(enzymes)
    if renamed:
        log.warning("source ids with several sequences, renamed: %s", renamed)
    return frame, renamed


def enzyme_of_reaction(reactions: pd.DataFrame, enzymes: pd.DataFrame) -> pd.Series:
    """Enzyme id for every reaction row (joined on the sequence)."""
    by_sequence = dict(zip(enzymes["sequence"], enzymes["id"], strict=True))
    return reactions["sequence"].map(by_sequence)


def parse_marts(path: str | os.PathLike, include_minor_products: bool = True) -> ParsedMarts:
    """Read and validate an export: kept reactions, rejected rows and row counts."""
    table = read_marts_table(path)
    reactions, rejected = parse_reactions(table, include_minor_products)
    several = int(sum(len(names) > 1 for names in reactions["substrates"]))
    notes = {"rows_with_several_substrates": several}
    return ParsedMarts(reactions=reactions, rejected=rejected, rows_in=len(table), notes=notes)


def read_enzymes(
    path: str | os.PathLike, include_minor_products: bool = True
) -> tuple[pd.DataFrame, ParsedMarts]:
    """Export -> (enzymes, parse result): what the predict stage reuses."""
    parsed = parse_marts(path, include_minor_products)
    if parsed.reactions.empty:
        raise MartsFormatError(f"{path}: every row was rejected, no enzyme left")
    enzymes, renamed = merge_enzymes(parsed.reactions)
    parsed.notes["renamed_ids"] = renamed
    return enzymes, parsed
