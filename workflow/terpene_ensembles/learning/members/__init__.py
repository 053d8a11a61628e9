"""The registered members (:mod:`.base` holds the contract and the registry).

Importing this package registers every member. The import order below is the
registration order, which is the row order of predictions tables and the key order of
metrics: keep it (the sorter is told to leave it alone).
``from terpene_ensembles.learning.members import registry`` is the way in.
"""

# isort: off
from terpene_ensembles.learning.members import base as registry
from terpene_ensembles.learning.members import knn_identity  # noqa: F401
from terpene_ensembles.learning.members import identity_kernel  # noqa: F401
from terpene_ensembles.learning.members import logistic_regression  # noqa: F401
from terpene_ensembles.learning.members import positions  # noqa: F401
from terpene_ensembles.learning.members import plm  # noqa: F401
from terpene_ensembles.learning.members import fusion  # noqa: F401
# isort: on

__all__ = ["registry"]
