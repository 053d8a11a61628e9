"""Make the ``terpene_ensembles`` package importable from a stage script.

Also installs the one error style (terpene_ensembles.errors): an expected problem is one
line on stderr (the rule's log) and exit status 2; ``TPS_DEBUG=1`` or ``--debug`` shows
the traceback.
"""

import sys
from pathlib import Path

WORKFLOW_DIR = Path(__file__).resolve().parents[1]
if str(WORKFLOW_DIR) not in sys.path:
    sys.path.insert(0, str(WORKFLOW_DIR))

from terpene_ensembles import errors  # noqa: E402

if Path(sys.argv[0]).resolve().parent == Path(__file__).resolve().parent:
    errors.install()  # only when a stage script runs, not when a test imports one
