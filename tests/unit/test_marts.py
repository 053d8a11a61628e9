"""Reading, validating and merging MARTS-DB exports (fixtures in tests/data/)."""

import csv
from pathlib import Path

import pandas as pd
import pytest

from terpene_ensembles.data import marts
from terpene_ensembles.io_utils import sha256_text

DATA = Path(__file__).parent / "data"
SEQ_SESQ = "MSTQEVHLSRRSANYHPNVWDDDFIQSLS"


def reasons_by_row(parsed):
    return dict(zip(parsed.rejected["source_row"], parsed.rejected["reason"], strict=True))


def test_small_export_merges_one_enzyme_per_sequence():
    enzymes, parsed = marts.read_enzymes(DATA / "marts_small.csv")
    assert parsed.rows_in == 9
    assert len(parsed.reactions) == 9 and parsed.rejected.empty
    assert len(enzymes) == 6
    sesq = enzymes.set_index("id").loc["Q1"]
    # ' Q1 ', 'Q1' and 'Q1b' carry the same sequence (once lowercase with a stop mark).
    assert sesq["aliases"] == ["Q1", "Q1b"]
    assert sesq["sequence"] == SEQ_SESQ
    assert sesq["sequence_sha256"] == sha256_text(SEQ_SESQ)
    assert sesq["length"] == len(SEQ_SESQ)
    assert sesq["genbank_ids"] == ["ABC12345.1"]
    assert sesq["uniprot_ids"] == ["Q1"]  # the literal 'null' is not an id
    assert sesq["types"] == ["sesq"]
    assert sesq["substrate_family"] == "C15"
    assert sesq["source_rows"] == [1, 2, 3]
    assert len(sesq["product_skeletons"]) == 2  # germacrane (A and D), caryophyllane


def test_negative_and_unknown_products_are_kept_and_flagged():
    enzymes, _ = marts.read_enzymes(DATA / "marts_small.csv")
    by_id = enzymes.set_index("id")
    assert by_id.loc["N1", "inactive"]  # product 'Negative'
    assert by_id.loc["U1", "inactive"]  # Type 'Negative' with product 'Unknown'
    assert by_id.loc["N1", "substrate_family"] == "none"
    assert not by_id.loc["S1", "inactive"]  # active sesquiterpene synthase, product unknown
    assert not by_id.loc["S1", "has_known_product"]
    assert by_id.loc["Q1", "has_known_product"]


def test_several_substrates_in_one_field_are_split():
    enzymes, parsed = marts.read_enzymes(DATA / "marts_small.csv")
    assert enzymes.set_index("id").loc["P1", "substrates"] == ["(2E,6E)-FPP", "isopentenyl PP"]
    assert parsed.notes["rows_with_several_substrates"] == 1


def test_each_malformed_row_is_rejected_with_its_reason():
    parsed = marts.parse_marts(DATA / "marts_bad_rows.csv")
    assert reasons_by_row(parsed) == {
        2: marts.REASON_EMPTY_SEQUENCE,
        3: marts.REASON_INVALID_RESIDUES,
        4: marts.REASON_BAD_SMILES,
        5: marts.REASON_EMPTY_PRODUCT,
        6: marts.REASON_MISSING_ID,
        7: marts.REASON_NEGATIVE_WITH_PRODUCT,
        8: marts.REASON_INVALID_RESIDUES,  # '*' inside the sequence, not a stop mark
    }
    assert list(parsed.reactions["source_row"]) == [1]
    assert parsed.rows_in == len(parsed.reactions) + len(parsed.rejected)
    details = dict(zip(parsed.rejected["source_row"], parsed.rejected["detail"], strict=True))
    assert details[3] == "#1"
    assert "CC1=CCC(CC1" in details[4]


def test_bom_crlf_quoted_newlines_extra_columns_and_order_do_not_matter():
    plain = marts.parse_marts(DATA / "marts_small.csv").reactions.head(4)
    messy = marts.parse_marts(DATA / "marts_bom_crlf.csv").reactions
    columns = ["source_id", "sequence", "product_name", "skeleton", "type"]
    assert messy[columns].to_dict("records") == plain[columns].to_dict("records")


def test_tab_separated_export_is_read(tmp_path):
    table = pd.read_csv(DATA / "marts_small.csv", dtype=str, keep_default_na=False)
    path = tmp_path / "export.tsv"
    table.to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_MINIMAL)
    tsv = marts.parse_marts(path).reactions
    plain = marts.parse_marts(DATA / "marts_small.csv").reactions
    assert tsv[["source_id", "skeleton"]].equals(plain[["source_id", "skeleton"]])


def test_missing_columns_are_named():
    with pytest.raises(marts.MartsFormatError) as error:
        marts.read_marts_table(DATA / "marts_missing_columns.csv")
    assert "Aminoacid_sequence" in str(error.value)
    assert "Product_smiles" in str(error.value)


def test_a_fasta_file_is_not_a_marts_export():
    with pytest.raises(marts.MartsFormatError, match="not a MARTS-DB reactions export"):
        marts.read_marts_table(DATA / "not_marts.fasta")


def test_binary_and_empty_files_fail_loudly(tmp_path):
    binary = tmp_path / "export.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(marts.MartsFormatError, match="not UTF-8"):
        marts.read_marts_table(binary)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(marts.MartsFormatError, match="empty"):
        marts.read_marts_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(marts.REQUIRED_COLUMNS) + "\n")
    with pytest.raises(marts.MartsFormatError, match="no reaction rows"):
        marts.read_marts_table(header_only)


def test_every_row_rejected_is_an_error(tmp_path):
    lines = (DATA / "marts_bad_rows.csv").read_text().splitlines()
    only_bad = tmp_path / "bad.csv"
    only_bad.write_text("\n".join([lines[0]] + lines[2:]) + "\n")
    with pytest.raises(marts.MartsFormatError, match="every row was rejected"):
        marts.read_enzymes(only_bad)


def test_minor_products_can_be_left_out():
    parsed = marts.parse_marts(DATA / "marts_small.csv", include_minor_products=False)
    # Row 3 (minor caryophyllene) and row 5 (trace pinene) go; both enzymes keep a major.
    assert reasons_by_row(parsed) == {
        3: marts.REASON_MINOR_EXCLUDED,
        5: marts.REASON_MINOR_EXCLUDED,
    }
    assert parsed.rows_in == len(parsed.reactions) + len(parsed.rejected)


def test_enzyme_with_only_minor_products_keeps_them():
    reactions = marts.parse_marts(DATA / "marts_small.csv").reactions
    only_minor = reactions[reactions["source_row"] == 3].copy()
    kept, dropped = marts._drop_minor_products(only_minor)
    assert len(kept) == 1 and dropped.empty


def test_one_id_with_two_sequences_gets_unique_ids(tmp_path):
    lines = (DATA / "marts_small.csv").read_text().splitlines()
    # Row 4 (M1, limonene) once more, with another sequence under the same id.
    twin = lines[4].replace("MALRLLSTPATLSHSQHKRTCYQVPANSS", "MALRLLSTPATLSHSQHKRTCYQVPANSSK")
    path = tmp_path / "twin.csv"
    path.write_text("\n".join(lines + [twin]) + "\n")
    enzymes, parsed = marts.read_enzymes(path)
    assert enzymes["id"].is_unique
    assert parsed.notes["renamed_ids"] == {"M1__seq2": "M1"}
    assert enzymes.set_index("id").loc["M1__seq2", "aliases"] == ["M1"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" mkv*\n", "MKV"), ("MK V\r\nLL**", "MKVLL"), ("null", ""), ("  ", "")],
)
def test_normalize_sequence(raw, expected):
    assert marts.normalize_sequence(raw) == expected


def test_invalid_residues():
    assert marts.invalid_residues("MKVXBZ") == []
    assert marts.invalid_residues("MK1-V.") == ["-", ".", "1"]


@pytest.mark.parametrize(
    ("types", "family"),
    [
        (["mono"], "C10"),
        (["sesq", "mono"], "C10+C15"),
        (["fpps", "ggpps", "gpps"], "C10+C15+C20"),
        (["di-int", "di"], "C20"),
        (["Negative"], "none"),
        (["weird"], "unknown"),
    ],
)
def test_substrate_family(types, family):
    assert marts.substrate_family(types) == family


@pytest.mark.parametrize(
    ("text", "minor"),
    [("minor product", True), ("Trace", True), ("minor (with Ca2+)", True), ("major", False)],
)
def test_minor_yield(text, minor):
    assert marts.is_minor_yield(text) is minor
