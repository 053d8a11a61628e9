"""Predict terpene synthase functional ensembles (product skeleton families) from sequence.

Each pipeline stage script in ``workflow/scripts`` is a thin entry point over the
modules of this package.
"""

__version__ = "0.1.0"
