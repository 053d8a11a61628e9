import gzip

import pytest
from conftest import DEMO_MARTS

from terpene_ensembles.data.input_format import FASTA, MARTS
from terpene_ensembles.data.sequence_input import (
    InputFormatError,
    chunked,
    clean_sequence,
    detect_input_format,
    iter_fasta,
)


def write(tmp_path, name, text, compress=False):
    path = tmp_path / name
    if compress:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def read_all(path):
    rejections = []
    records = list(iter_fasta(path, rejections))
    return records, rejections


def test_plain_and_gzipped_fasta_give_the_same_records(tmp_path):
    text = ">a first protein\nmkvl\nAYW*\n>b\nMSTQ\n"
    plain, _ = read_all(write(tmp_path, "x.fasta", text))
    # A gzipped file is recognised by content even without a .gz suffix.
    zipped, _ = read_all(write(tmp_path, "x.fa", text, compress=True))
    assert [(r.id, r.sequence) for r in plain] == [("a", "MKVLAYW"), ("b", "MSTQ")]
    assert [(r.id, r.sequence, r.record) for r in zipped] == [
        (r.id, r.sequence, r.record) for r in plain
    ]
    assert plain[0].description == "a first protein"
    assert len(plain[0].sequence_sha256) == 64


def test_windows_line_endings_are_read(tmp_path):
    records, rejections = read_all(write(tmp_path, "crlf.fasta", ">a\r\nMKV\r\nLL\r\n"))
    assert [(r.id, r.sequence) for r in records] == [("a", "MKVLL")]
    assert rejections == []


def test_empty_records_are_rejected_with_reason(tmp_path):
    path = write(tmp_path, "e.fasta", ">empty\n\n>ok\nMKV\n>stop_only\n*\n")
    records, rejections = read_all(path)
    assert [r.id for r in records] == ["ok"]
    assert [(r.record, r.id, r.reason) for r in rejections] == [
        (1, "empty", "empty_sequence"),
        (3, "stop_only", "empty_sequence"),
    ]


def test_invalid_residues_are_rejected_with_the_offending_characters(tmp_path):
    path = write(tmp_path, "bad.fasta", ">digits\nMKV12L\n>internal_stop\nMK*VL\n>ok\nMKVX\n")
    records, rejections = read_all(path)
    assert [r.id for r in records] == ["ok"]
    reasons = {r.id: (r.reason, r.detail) for r in rejections}
    assert reasons["digits"][0] == "invalid_residues"
    assert "12" in reasons["digits"][1]
    assert reasons["internal_stop"] == ("internal_stop", "stop codon '*' at position 3")


def test_nucleotide_records_are_rejected(tmp_path):
    dna = "ATGGCGTTAGCCTTAGGCATTAGCGGATTACGATCGAT"
    proteins = ">p1\nMKVLLE\n>p2\nMSTEFQ\n>p3\nMPQWLE\n"
    text = f">dna\n{dna}\n>short\nACGT\n{proteins}"
    records, rejections = read_all(write(tmp_path, "dna.fasta", text))
    # Short all-ACGT peptides are legal proteins; long ones are DNA pasted by mistake into
    # a protein file (the detector votes per record: most records here are proteins).
    assert [r.id for r in records] == ["short", "p1", "p2", "p3"]
    assert [(r.id, r.reason) for r in rejections] == [("dna", "nucleotide_sequence")]


def test_duplicate_ids_keep_the_first_and_reject_the_rest(tmp_path):
    path = write(tmp_path, "dup.fasta", ">a\nMKV\n>b\nMST\n>a other\nMLL\n>a\nMAA\n")
    records, rejections = read_all(path)
    assert [(r.id, r.sequence) for r in records] == [("a", "MKV"), ("b", "MST")]
    assert [(r.record, r.reason) for r in rejections] == [(3, "duplicate_id"), (4, "duplicate_id")]


def test_header_without_id_is_rejected(tmp_path):
    records, rejections = read_all(write(tmp_path, "noid.fasta", ">\nMKV\n>a\nMKV\n"))
    assert [r.id for r in records] == ["a"]
    assert [(r.record, r.reason) for r in rejections] == [(1, "missing_id")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("\n\n  \n", "empty"),
        ("hello world\nthis is not a sequence file\n", "not FASTA"),
        ("name,sequence\na,MKV\n", "not FASTA"),
    ],
)
def test_files_that_are_not_fasta_are_a_clear_error(tmp_path, content, message):
    path = write(tmp_path, "x.txt", content)
    with pytest.raises(InputFormatError, match=message):
        detect_input_format(path)
    with pytest.raises(InputFormatError):
        list(iter_fasta(path))


def test_binary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputFormatError, match="not FASTA"):
        detect_input_format(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputFormatError, match="does not exist"):
        detect_input_format(tmp_path / "absent.fasta")


def test_marts_export_is_recognised(tmp_path):
    assert detect_input_format(DEMO_MARTS) == MARTS
    header = DEMO_MARTS.read_text().splitlines()[0]
    assert detect_input_format(write(tmp_path, "m.csv.gz", header + "\n", compress=True)) == MARTS
    assert detect_input_format(write(tmp_path, "f.fa", ">a\nM\n")) == FASTA
    with pytest.raises(InputFormatError, match="MARTS"):
        list(iter_fasta(DEMO_MARTS))


def test_clean_sequence_normalises_case_whitespace_and_terminal_stop():
    assert clean_sequence(" mk v\nl* ") == ("MKVL", None, "")


def test_chunked_streams_fixed_size_lists():
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []
    with pytest.raises(ValueError):
        list(chunked(range(3), 0))
