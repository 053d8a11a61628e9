"""Screening genomes and metagenomes: TPS prefilter, sharded predict, screening report.

- :mod:`.prefilter`: pyhmmer ``hmmsearch`` with the model's TPS Pfam profiles at their
  gathering cutoffs decides which proteins are TPS candidates; the others go to
  ``not_tps.tsv``.
- :mod:`.shards`: candidates scattered into ``predict.shards`` files, one predict job per
  shard, gathered into one ``predictions.parquet``/``.tsv`` and ``summary.json``.
- :mod:`.screening_report`: the self-contained ``report.html`` of a screening run.
"""
