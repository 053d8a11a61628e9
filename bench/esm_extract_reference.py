"""fair-esm's ``scripts/extract.py`` (v2.0.0, MIT licence), the reference the embed stage
is measured against; the pip package does not ship the script, so its loop is kept here.

The only change: the checkpoint is loaded with ``terpene_ensembles.embed.esm_weights.load_esm``
(which calls fair-esm's ``load_model_and_alphabet_core``), because
``load_model_and_alphabet_local`` needs a contact-regression file and a model file named
``esm2_*``, which the random benchmark checkpoint has not. GPU code paths are dropped (the
benchmark is on CPU); ``--include mean`` only.

    python bench/esm_extract_reference.py CHECKPOINT MODEL FASTA OUTPUT_DIR --threads 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from esm import FastaBatchedDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))


def main(argv=None):
    from terpene_ensembles.embed.esm_weights import load_esm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("model")
    parser.add_argument("fasta_file", type=Path)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--toks_per_batch", type=int, default=4096)
    parser.add_argument("--repr_layers", type=int, default=[-1], nargs="+")
    parser.add_argument("--truncation_seq_length", type=int, default=1022)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    loaded = load_esm(args.model, args.checkpoint)
    model, alphabet = loaded.model, loaded.alphabet
    model.eval()
    dataset = FastaBatchedDataset.from_file(args.fasta_file)
    batches = dataset.get_batch_indices(args.toks_per_batch, extra_toks_per_seq=1)
    data_loader = torch.utils.data.DataLoader(
        dataset,
        collate_fn=alphabet.get_batch_converter(args.truncation_seq_length),
        batch_sampler=batches,
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    repr_layers = [(i + model.num_layers + 1) % (model.num_layers + 1) for i in args.repr_layers]
    with torch.no_grad():
        for labels, strs, toks in data_loader:
            out = model(toks, repr_layers=repr_layers, return_contacts=False)
            representations = {
                layer: t.to(device="cpu") for layer, t in out["representations"].items()
            }
            for i, label in enumerate(labels):
                truncate_len = min(args.truncation_seq_length, len(strs[i]))
                result = {
                    "label": label,
                    "mean_representations": {
                        layer: t[i, 1 : truncate_len + 1].mean(0).clone()
                        for layer, t in representations.items()
                    },
                }
                torch.save(result, args.output_dir / f"{label}.pt")


if __name__ == "__main__":
    main()
