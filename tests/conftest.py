import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
SHARED_DATA = REPO.parent / "shared" / "data"


# In CI every dependency (MMseqs2, Chromium, the SLURM cluster, shared data) is installed
# on purpose, so a skipped test there means a broken setup: report it as a failure.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a missing dependency fails the build): {reason}"
