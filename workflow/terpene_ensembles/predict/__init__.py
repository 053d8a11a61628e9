"""Screen new sequences with a trained model: calls, evidence and trust flags per sequence.

Input is streamed in chunks (:mod:`terpene_ensembles.data.sequence_input`); each chunk is
featurised, scored, compared with the training enzymes (MMseqs2) and appended to the
output files, so peak memory depends on the chunk size, not on the input size.

Modules, in layers (each imports only the ones before it; this file imports none, so
any module imports on its own):

- :mod:`.evidence`: the evidence columns of a call (homology band and expected top-call
  precision, the nearest training enzymes and what they make, supporting members);
- :mod:`.model`: loading a compatible model bundle, featurising and scoring chunks;
- :mod:`.neighbours`: the nearest training enzymes (MMseqs2);
- :mod:`.output`: the per-sequence columns and the output files;
- :mod:`.prefilter`: pyhmmer ``hmmsearch`` with the model's TPS Pfam profiles decides which
  proteins are TPS candidates; the others go to ``not_tps.tsv``;
- :mod:`.loop`: the chunk loop;
- :mod:`.run`: a whole FASTA or MARTS-DB input;
- :mod:`.shards`: candidates scattered into ``predict.shards`` files, one predict job per
  shard, gathered into one ``predictions.parquet``/``.tsv`` and ``summary.json``;
- :mod:`.screening_report`: the self-contained ``report.html`` of a screening run;
- :mod:`.synthetic`: synthetic proteomes for the screening benchmarks.
"""
