"""One detector for MARTS-DB exports and FASTA: what parse accepts, predict accepts."""

from __future__ import annotations

import csv
import gzip

import pandas as pd
import pytest
from conftest import DEMO_MARTS

from terpene_ensembles.data import marts
from terpene_ensembles.data.input_format import FASTA, MARTS
from terpene_ensembles.data.sequence_input import InputFormatError, detect_input_format

SEPARATORS = {"comma": ",", "tab": "\t", "semicolon": ";"}
CASES = {"as_exported": str, "lower": str.lower, "upper": str.upper}


def demo_rows(n: int = 30) -> tuple[list[str], list[list[str]]]:
    with open(DEMO_MARTS, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [row for _, row in zip(range(n), reader, strict=False)]


def write_export(path, header, rows, separator, case=str, compress=False, bom=False):
    lines = []

    class Sink:
        def write(self, text):
            lines.append(text)

    writer = csv.writer(Sink(), delimiter=separator, lineterminator="\n")
    writer.writerow([case(column) for column in header])
    writer.writerows(rows)
    text = ("\ufeff" if bom else "") + "".join(lines)
    if compress:
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def variants(tmp_path):
    header, rows = demo_rows()
    files = {}
    for sep_name, separator in SEPARATORS.items():
        for case_name, case in CASES.items():
            name = f"{sep_name}_{case_name}"
            files[name] = write_export(tmp_path / f"{name}.csv", header, rows, separator, case)
    files["gzipped_bom"] = write_export(
        tmp_path / "export.csv.gz", header, rows, ",", compress=True, bom=True
    )
    return files


def parse_accepts(path) -> bool:
    try:
        marts.read_marts_table(path)
    except marts.MartsFormatError:
        return False
    return True


def predict_accepts_as_export(path) -> bool:
    try:
        return detect_input_format(path) == MARTS
    except InputFormatError:
        return False


def test_parse_and_predict_accept_the_same_exports(tmp_path):
    files = variants(tmp_path)
    reference = marts.read_marts_table(files["comma_as_exported"])
    for name, path in files.items():
        assert parse_accepts(path), name
        assert predict_accepts_as_export(path), name
        pd.testing.assert_frame_equal(marts.read_marts_table(path), reference, obj=name)


def test_parse_and_predict_refuse_the_same_files(tmp_path):
    header, rows = demo_rows()
    without_smiles = [c for c in header if c != "Product_smiles"]
    keep = [header.index(c) for c in without_smiles]
    refused = {
        "missing_column": write_export(
            tmp_path / "missing.csv", without_smiles, [[r[i] for i in keep] for r in rows], ","
        ),
        "pipe_separated": write_export(tmp_path / "pipes.csv", header, rows, "|"),
    }
    for name, path in refused.items():
        assert not parse_accepts(path), name
        assert not predict_accepts_as_export(path), name


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzipped"])
def test_fasta_is_fasta_for_predict_and_no_export_for_parse(tmp_path, compress):
    text = ">a first\nMKVLAAGIDD\n>b\nMKLLAGG\n"
    path = tmp_path / "proteins.fasta"
    if compress:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    assert detect_input_format(path) == FASTA
    assert not parse_accepts(path)


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        ("ACGTACGTAC", True),
        ("acgtnnnnuu", True),
        ("ACGT-ACGT*ACGT 12", True),  # non-letters do not count
        ("ACGTACGTAE", True),  # exactly NUCLEOTIDE_SHARE (9 of 10)
        ("ACGTACGTEE", False),
        ("MKVLAAGIVACGT", False),
        ("", False),
        ("-*12", False),
        ("ACGTACGTACGTßß", False),  # 'ß'.upper() is 'SS': 12 of 16 letters
    ],
)
def test_looks_nucleotide_counts_the_share_of_nucleotide_letters(sequence, expected):
    from terpene_ensembles.data.input_format import looks_nucleotide

    assert looks_nucleotide(sequence) is expected
