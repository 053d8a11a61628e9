"""Gene-calling benchmark: pyrodigal on a synthetic bacterial genome, as predict runs it.

The genome (``terpene_ensembles.predict.synthetic.synthetic_genome``): random contigs at GC
0.65 carrying the demo TPS back-translated among random-protein genes (150-500 residues),
on both strands, about one gene per kilobase like a bacterial genome. It is written as
gzipped FASTA and read back through predict's own input route
(``sequence_input.iter_records``: validation, single-mode training on the whole genome,
gene finding on ``--threads`` threads, translation and the protein checks), which is all
that the nucleotide route adds before the TPS prefilter. Reports wall seconds per phase
(generate, call), genes called, the planted genes found (overlap >= 90%) and peak RSS.

    .venv/bin/python bench/bench_gene_calling.py --megabases 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from terpene_ensembles.data.genome_input import GeneCalling  # noqa: E402
from terpene_ensembles.data.sequence_input import iter_records  # noqa: E402
from terpene_ensembles.predict.synthetic import (  # noqa: E402
    export_sequences,
    synthetic_genome,
    write_proteome,
)

DEMO_MARTS = REPO / "resources" / "demo" / "marts_db.csv"
BASES_PER_GENE = 1100  # random genes average ~1 kb with their intergenic spacer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabases", type=float, default=5.0)
    parser.add_argument("--contigs", type=int, default=3, help="a chromosome and plasmids")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", default="auto", choices=("auto", "single", "meta"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    tps = [s for s in export_sequences(DEMO_MARTS) if s.startswith("M")][:50]
    genes = int(args.megabases * 1e6 / BASES_PER_GENE)
    started = time.perf_counter()
    contigs, planted = synthetic_genome(
        tps, contigs=args.contigs, other_genes=genes, seed=args.seed
    )
    generate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        fasta = write_proteome(Path(tmp) / "genome.fna.gz", contigs)
        rejections, stats = [], {}
        started = time.perf_counter()
        records = list(
            iter_records(fasta, rejections, GeneCalling(args.mode, 11, args.threads), stats)
        )
        call_s = time.perf_counter() - started
    by_contig: dict[tuple[str, str], list] = {}
    for record in records:
        by_contig.setdefault((record.locus.contig, record.locus.strand), []).append(record.locus)
    found = sum(
        any(
            gene.overlap(locus.contig, locus.start, locus.end, locus.strand) >= 0.9
            for locus in by_contig.get((gene.contig, gene.strand), [])
        )
        for gene in planted
    )
    result = {
        "genome_bases": sum(len(s) for _, s in contigs),
        "contigs": len(contigs),
        "planted_genes": len(planted),
        "planted_found": found,
        "proteins": len(records),
        "rejected": len(rejections),
        "gene_calling": stats["gene_calling"],
        "threads": args.threads,
        "generate_seconds": round(generate_s, 1),
        "gene_calling_seconds": round(call_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
