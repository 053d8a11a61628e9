"""Build a RANDOM-weight ESM2 checkpoint of a named architecture (offline demo, tests).

The file uses fair-esm's checkpoint layout and is marked ``random_weights: True``; every
later stage reports that the protein language model carries no pretrained knowledge.
"""

import argparse

import _bootstrap  # noqa: F401

from terpene_ensembles.embed.esm_weights import (
    ESM2_ARCHITECTURES,
    build_random_esm2,
    save_checkpoint,
)
from terpene_ensembles.io_utils import setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", required=True, choices=sorted(ESM2_ARCHITECTURES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    return parser.parse_args(argv)


def main(argv=None):
    log = setup_logging()
    args = parse_args(argv)
    layers, dim, heads = ESM2_ARCHITECTURES[args.arch]
    data = build_random_esm2(layers, dim, heads, seed=args.seed)
    data["arch"] = args.arch
    save_checkpoint(data, args.output)
    log.info(
        "wrote RANDOM-weight %s (%d layers, dim %d, %d heads, seed %d) to %s",
        args.arch,
        layers,
        dim,
        heads,
        args.seed,
        args.output,
    )


if __name__ == "__main__":
    main()
