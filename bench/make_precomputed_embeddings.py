"""Write a `plm.precomputed` table for the demo enzymes, from a representation of known kind.

No pretrained protein language model can be downloaded here, so the PLM route is tested
with tables whose information content is known (docs/experiments.md, "Precomputed
embeddings: the member is used when it carries signal"):

- ``random``: Gaussian vectors, seeded per sequence hash. No signal; selection must leave
  the ``plm`` member out.
- ``kmer``: label-free sequence composition. Each sequence's 3-mer counts (8,000
  dimensions), TF-IDF weighted and reduced to ``--dim`` components by a truncated SVD over
  the distinct sequences of the table. It uses no label and no other sequence's label,
  like a PLM, and carries the family (phylogenetic) signal of composition.
- ``homology``: a label-free embedding of the homology graph. The all-vs-all MMseqs2 hits
  of the split stage (bit score per residue of the longer protein) as a symmetric
  similarity matrix over all enzymes, reduced to its leading ``--dim`` eigenvectors
  (kernel PCA). Transductive (the test enzymes' sequences shape the axes, never their
  labels), as a PLM trained on UniRef has seen them.

    python bench/make_precomputed_embeddings.py --kind kmer --output /tmp/kmer.parquet \\
        [--results results] [--dim 128]

The table has the columns of docs/precomputed_embeddings.md (``model`` names the kind).
"""

import argparse
import hashlib
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
KMER = 3


def random_vectors(hashes: list[str], dim: int) -> np.ndarray:
    rows = []
    for value in hashes:
        seed = int(hashlib.sha256(value.encode()).hexdigest()[:8], 16)
        rows.append(np.random.default_rng(seed).standard_normal(dim))
    return np.vstack(rows)


def kmer_vectors(sequences: list[str], dim: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocabulary = ["".join(k) for k in itertools.product(AMINO_ACIDS, repeat=KMER)]
    vectorizer = TfidfVectorizer(
        analyzer="char", ngram_range=(KMER, KMER), lowercase=False, vocabulary=vocabulary
    )
    counts = vectorizer.fit_transform(sequences)
    return TruncatedSVD(n_components=dim, random_state=0).fit_transform(counts)


def homology_vectors(ids: list[str], lengths: dict, hits: pd.DataFrame, dim: int) -> np.ndarray:
    index = {identifier: i for i, identifier in enumerate(ids)}
    hits = hits[hits["query"].isin(index) & hits["target"].isin(index)]
    longer = np.maximum(hits["query"].map(lengths), hits["target"].map(lengths))
    similarity = np.zeros((len(ids), len(ids)))
    rows, cols = hits["query"].map(index).to_numpy(), hits["target"].map(index).to_numpy()
    np.maximum.at(similarity, (rows, cols), (hits["bits"] / longer).to_numpy())
    similarity = np.maximum(similarity, similarity.T)
    np.fill_diagonal(similarity, similarity.max())
    values, vectors = np.linalg.eigh(similarity)
    top = np.argsort(values)[::-1][:dim]
    # eigh's sign per vector is arbitrary: fix it so the table does not depend on LAPACK.
    vectors = vectors[:, top] * np.sign(vectors[np.abs(vectors[:, top]).argmax(axis=0), top])
    return vectors * np.sqrt(np.clip(values[top], 0, None))


def labelled_vectors(ids: list[str], labels: pd.DataFrame, dim: int, noise: float) -> np.ndarray:
    classes = [c for c in labels.columns if c != "id"]
    truth = labels.set_index("id")[classes].reindex(ids).fillna(0).to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    projection = rng.standard_normal((len(classes), dim))
    return truth @ projection + noise * rng.standard_normal((len(ids), dim))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=["random", "kmer", "homology", "labelled"], required=True)
    parser.add_argument("--results", default="results", type=Path)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--noise", type=float, default=3.0, help="labelled: noise s.d.")
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args()
    enzymes = pd.read_parquet(args.results / "parse/enzymes.parquet")
    enzymes = enzymes.drop_duplicates("sequence_sha256").reset_index(drop=True)
    if args.kind == "random":
        vectors = random_vectors(enzymes["sequence_sha256"].tolist(), args.dim)
    elif args.kind == "kmer":
        vectors = kmer_vectors(enzymes["sequence"].tolist(), args.dim)
    elif args.kind == "labelled":
        labels = pd.read_parquet(args.results / "parse/labels.parquet")
        vectors = labelled_vectors(enzymes["id"].tolist(), labels, args.dim, args.noise)
    else:
        hits = pd.read_parquet(args.results / "split/pairwise_identity.parquet")
        lengths = dict(zip(enzymes["id"], enzymes["length"], strict=True))
        vectors = homology_vectors(enzymes["id"].tolist(), lengths, hits, args.dim)
    table = pa.table(
        {
            "sequence_sha256": enzymes["sequence_sha256"],
            "embedding": pa.array(list(vectors.astype(np.float32)), pa.list_(pa.float32())),
            "model": [f"{args.kind}_{args.dim}"] * len(enzymes),
        }
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.output)
    print(f"{args.output}: {len(enzymes)} sequences x {vectors.shape[1]}", file=sys.stderr)


if __name__ == "__main__":
    main()
