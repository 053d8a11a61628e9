"""Code inputs of the rules: each stage depends on the source files it can run.

terpene_ensembles.code_deps computes them from the imports (common.smk's stage_code);
the rerun behaviour itself (edit a module -> its stages and below rerun) is tested in
test_reruns.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO
from test_conda_envs import rule_script, stage_rules

from terpene_ensembles.code_deps import code_files

SCRIPTS = REPO / "workflow" / "scripts"
PACKAGE = REPO / "workflow" / "terpene_ensembles"


def make_package(tmp_path, modules: dict[str, str]):
    package = tmp_path / "terpene_ensembles"
    package.mkdir()
    (package / "__init__.py").write_text('"""Package."""\n')
    for name, source in modules.items():
        (package / f"{name}.py").write_text(source)
    (tmp_path / "_bootstrap.py").write_text("import sys\n")
    return package


def names(paths):
    return {path.name for path in paths}


def test_a_lazy_import_counts_only_when_its_function_is_used(tmp_path):
    package = make_package(
        tmp_path,
        {
            "metrics": (
                "def mean_ap(x):\n    return helper(x)\n\n"
                "def helper(x):\n    from terpene_ensembles.ranking import rank\n"
                "    return rank(x)\n\n"
                "def predictor_metrics(x):\n"
                "    from terpene_ensembles.calibration import call\n    return call(x)\n"
            ),
            "ranking": "def rank(x):\n    return x\n",
            "calibration": "def call(x):\n    return x\n",
            "unused": "X = 1\n",
        },
    )
    train = tmp_path / "train.py"
    train.write_text(
        "import _bootstrap\nfrom terpene_ensembles.metrics import mean_ap\nprint(mean_ap(1))\n"
    )
    evaluate = tmp_path / "evaluate.py"
    evaluate.write_text(
        "import _bootstrap\nfrom terpene_ensembles import metrics\n\n"
        "def main():\n    return metrics.predictor_metrics(1)\n"
    )
    assert names(code_files(train, package)) == {
        "train.py",
        "_bootstrap.py",
        "__init__.py",
        "metrics.py",
        "ranking.py",
    }
    assert names(code_files(evaluate, package)) == {
        "evaluate.py",
        "_bootstrap.py",
        "__init__.py",
        "metrics.py",
        "calibration.py",  # predictor_metrics imports it lazily
    }
    assert code_files(train, package)[0] == train.resolve()


def test_classes_reexports_relative_imports_and_bare_modules(tmp_path):
    package = make_package(
        tmp_path,
        {
            "models": (
                "from .layers import Dense\n\nclass Net(Dense):\n"
                "    def fit(self):\n        from terpene_ensembles.optim import step\n"
                "        return step()\n"
            ),
            "layers": "class Dense:\n    pass\n",
            "optim": "def step():\n    return 0\n",
            "api": "from terpene_ensembles.models import Net\n",
            "registry": "def a():\n    from terpene_ensembles import optim\n    return optim\n",
            "plugins": "def b():\n    from terpene_ensembles import layers\n",
        },
    )
    script = tmp_path / "stage.py"
    script.write_text(
        "import _bootstrap\nfrom terpene_ensembles.api import Net\n"
        "import terpene_ensembles.registry as registry\n\n"
        "def main():\n    Net().fit()\n    return getattr(registry, 'a')()\n"
    )
    found = names(code_files(script, package))
    # Net's method imports optim lazily; the re-export api -> models is followed; the
    # bare use of `registry` (getattr) counts as using all of it.
    assert {"api.py", "models.py", "layers.py", "optim.py", "registry.py"} <= found
    assert "plugins.py" not in found


def test_every_stage_rule_lists_the_code_of_its_own_script():
    checked = 0
    for rule in stage_rules():
        script = rule_script(rule).name
        declared = re.findall(r'stage_code\("([^"]+)"\)', rule.directives.get("input", ""))
        assert declared == [script], f"rule {rule.name}: code inputs {declared}, runs {script}"
        checked += 1
    assert checked >= 10


def test_calibration_module_belongs_to_calibrate_and_below_only():
    users = {
        script.stem
        for script in SCRIPTS.glob("*.py")
        if PACKAGE / "learning" / "calibration.py" in code_files(script)
    }
    assert {"calibrate", "crossval", "model_bundle", "evaluate", "predict"} <= users
    assert not users & {"parse", "features", "split", "pairwise_identity", "embed", "train"}


def test_the_static_view_covers_what_importing_each_script_loads():
    """Import every stage script (not as __main__) and compare the project modules loaded."""
    scripts = sorted(p for p in SCRIPTS.glob("*.py") if p.name != "_bootstrap.py")
    probe = (
        "import json, runpy, sys\n"
        f"sys.path[:0] = [{str(SCRIPTS)!r}, {str(REPO / 'workflow')!r}]\n"
        "loaded = {}\n"
        "for script in sys.argv[1:]:\n"
        "    for name in [m for m in sys.modules if m.split('.')[0] in "
        "('terpene_ensembles', '_bootstrap')]:\n"
        "        del sys.modules[name]\n"
        "    runpy.run_path(script, run_name='imported_for_a_check')\n"
        "    loaded[script] = sorted(m.__file__ for n, m in list(sys.modules.items()) "
        "if n.split('.')[0] in ('terpene_ensembles', '_bootstrap'))\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(loaded) == len(scripts)
    for script, files in loaded.items():
        static = {str(path) for path in code_files(script)}
        missing = sorted(set(files) - static)
        assert not missing, f"{script} loads {missing} but its code inputs miss them"


@pytest.mark.parametrize(
    "module", sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))
)
def test_every_module_parses_for_the_scanner(module):
    """A module the scanner cannot read would make Snakemake fail on parsing the rules."""
    assert code_files(PACKAGE / module)[0] == PACKAGE / module
