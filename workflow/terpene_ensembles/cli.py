"""``tps-ensembles``: the command line of the installed package (``pip install .``).

    tps-ensembles predict --model-dir results/model --input new.fasta --outdir screened/

``predict`` takes the same arguments as the Snakemake route (``snakemake predict``, which
runs workflow/scripts/predict.py with these options) and writes the same files. Expected
problems (a bad input file, a model folder that is not a bundle, other HMMs) print one
line, ``error: <what>; <where>; <fix>``, and exit with status 2; ``--debug`` (or
``TPS_DEBUG=1``) shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from terpene_ensembles import __version__, errors
from terpene_ensembles.data.genome_input import GENE_CALLING_MODES
from terpene_ensembles.predict.prefilter import PREFILTER_MODES
from terpene_ensembles.settings import PredictConfig

PREDICT_DESCRIPTION = """\
Predict the functional ensembles (product skeleton families) of terpene synthase
sequences with a trained model folder (a pipeline run's results/model).

Input, recognised by content: protein FASTA (plain or gzipped), a MARTS-DB reactions
export (the labelled enzymes are also scored: metrics.json), or a prokaryotic genome or
metagenome: nucleotide FASTA (genes called with pyrodigal), GenBank or EMBL (its CDS).
Output, under --outdir: predictions.parquet and predictions.tsv (calibrated probability
per ensemble, called ensembles, nearest training enzymes, out-of-domain flag),
rejected.tsv (input records not predicted, with the reason) and summary.json; genome
input also genes.tsv, candidates.faa, predictions.gff3 (and annotated.gbk for GenBank/EMBL).
"""

PREDICT_EXAMPLES = """\
examples:
  tps-ensembles predict --model-dir results/model --input new.fasta --outdir screened/
  tps-ensembles predict --model-dir results/model --input new.fasta.gz --outdir out/ \\
      --kingdom Plantae --threads 4
  tps-ensembles predict --model-dir results/model --input genome.fna.gz --outdir out/
"""


def add_predict_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``predict`` (shared by the stage script and the command line)."""
    from terpene_ensembles.predict.loop import ScreeningSettings

    required = parser.add_argument_group("required")
    required.add_argument(
        "--model-dir", required=True, help="trained model folder (a run's results/model)"
    )
    required.add_argument(
        "--input",
        required=True,
        help="protein or nucleotide FASTA (.gz ok), GenBank, EMBL or MARTS-DB reactions "
        "export (CSV)",
    )
    required.add_argument("--outdir", required=True, help="folder for the prediction files")
    options = parser  # the optional arguments go to argparse's own "options" group
    options.add_argument(
        "--pfam-dir",
        default=None,
        help="override for the TPS Pfam HMMs: refused unless its HMMs are byte for byte "
        "(sha256) those the model was trained with (default: the model folder's own copy, "
        "MODEL_DIR/pfam)",
    )
    options.add_argument(
        "--kingdom",
        default="",
        help="MARTS-DB kingdom of every FASTA sequence, e.g. Plantae or Fungi (a model "
        "feature; default: unknown). A MARTS-DB export brings its own.",
    )
    options.add_argument(
        "--plm",
        default=None,
        help="the run's `plm` config section as JSON; checked against the model's PLM "
        "(default: use the model's own PLM settings)",
    )
    options.add_argument(
        "--precomputed",
        default=None,
        metavar="TABLE",
        help="the query sequences' embeddings computed elsewhere: a Parquet table with "
        "sequence_sha256 and embedding columns (the run's plm.precomputed; see "
        "docs/precomputed_embeddings.md). A sequence it lacks is rejected (rejected.tsv) "
        "unless the model was trained on ESM2 embeddings, which then embeds it "
        "(default: the --plm section's precomputed, if any)",
    )
    options.add_argument(
        "--cache-dir", default=None, help="embedding cache folder (when the model uses a PLM)"
    )
    options.add_argument(
        "--chunk-size",
        type=int,
        default=ScreeningSettings.chunk_size,
        help="sequences per chunk; memory use grows with it (default %(default)s)",
    )
    options.add_argument(
        "--identity-floor",
        type=float,
        default=ScreeningSettings.identity_floor,
        help="best training-enzyme identity (0-1) below which a call is flagged out of "
        "domain (default %(default)s)",
    )
    options.add_argument(
        "--prefilter",
        choices=PREFILTER_MODES,
        default=PredictConfig.prefilter,
        help="FASTA only: tps_domain_or_homolog predicts only proteins with a TPS Pfam domain "
        "at its gathering cutoff or an MMseqs2 hit to a training enzyme; tps_domain only the "
        "former (the others go to not_tps.tsv); none predicts every protein "
        "(default %(default)s; a MARTS-DB export is always scored whole)",
    )
    options.add_argument(
        "--gene-calling",
        choices=GENE_CALLING_MODES,
        default=PredictConfig.gene_calling,
        help="nucleotide FASTA only: pyrodigal single (one prokaryotic genome), meta "
        "(metagenomes, short contigs) or auto (single for 100 kb to 20 Mb, else meta; "
        "default %(default)s)",
    )
    options.add_argument(
        "--genetic-code",
        type=int,
        default=PredictConfig.genetic_code,
        help="NCBI translation table of nucleotide FASTA (GenBank/EMBL: when a CDS has no "
        "transl_table; default %(default)s)",
    )
    options.add_argument("--threads", type=int, default=1, help="CPU threads (default %(default)s)")
    return parser


def count_fasta_records(path: str | Path) -> int | None:
    """Number of '>' header lines of a protein FASTA (the progress bar's total); None for
    other input (a genome's proteins are known only once its genes are called)."""
    from terpene_ensembles.data.input_format import FASTA, detect_format

    try:
        if detect_format(path) != FASTA:
            return None
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as handle:
            count = sum(1 for line in handle if line.startswith(b">"))
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile):
        return None
    return count or None


def run_predict(args: argparse.Namespace, show_progress: bool = False) -> dict:
    """Run ``predict`` with parsed arguments; return the summary (also in summary.json)."""
    from terpene_ensembles.predict.loop import ScreeningSettings
    from terpene_ensembles.predict.run import run_prediction

    try:
        plm_config = json.loads(args.plm) if args.plm else None
    except json.JSONDecodeError as error:
        raise errors.ConfigError(
            f"--plm is not JSON ({error})", where="--plm", fix="pass the plm section as JSON"
        ) from error
    settings = ScreeningSettings(
        chunk_size=args.chunk_size,
        identity_floor=args.identity_floor,
        threads=args.threads,
        kingdom=args.kingdom,
        prefilter=args.prefilter,
        gene_calling=args.gene_calling,
        genetic_code=args.genetic_code,
    )
    bar = None
    with contextlib.ExitStack() as stack:
        if show_progress:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            bar = tqdm(
                total=count_fasta_records(args.input),
                unit="seq",
                desc="predict",
                file=sys.stderr,
                disable=None,  # no bar when stderr is not a terminal (logs, pipes)
            )
            stack.callback(bar.close)
            if not bar.disable:
                stack.enter_context(logging_redirect_tqdm())  # log lines above the bar
        summary = run_prediction(
            model_dir=args.model_dir,
            input_path=args.input,
            outdir=args.outdir,
            settings=settings,
            plm_config=plm_config,
            cache_dir=args.cache_dir,
            pfam_dir=args.pfam_dir,
            progress=bar.update if bar is not None else None,
            precomputed_path=args.precomputed or (plm_config or {}).get("precomputed"),
        )
        if bar is not None and bar.total:
            bar.update(max(0, bar.total - bar.n))  # rejected records count as done
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tps-ensembles",
        description="Terpene synthase functional-ensemble prediction from sequence.",
        epilog="Run `tps-ensembles predict --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="predict the ensembles of new sequences with a trained model folder",
        description=PREDICT_DESCRIPTION,
        epilog=PREDICT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_predict_arguments(predict)
    predict.add_argument(
        "--quiet", action="store_true", help="no progress bar and only warnings in the log"
    )
    predict.add_argument(
        errors.DEBUG_FLAG,
        action="store_true",
        help=f"show the traceback of an expected error too (same as {errors.DEBUG_ENV}=1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from terpene_ensembles.io_utils import setup_logging

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    log = setup_logging(verbose=not args.quiet)

    def command() -> int:
        summary = run_predict(args, show_progress=not args.quiet)
        log.info(
            "predicted %d sequences (%d out of domain, %d rejected) -> %s",
            summary.get("predicted", 0),
            summary.get("out_of_domain", 0),
            summary.get("rejected", 0),
            args.outdir,
        )
        return 0

    return errors.run_main(command, argv)


if __name__ == "__main__":  # python -m terpene_ensembles.cli
    sys.exit(main())
