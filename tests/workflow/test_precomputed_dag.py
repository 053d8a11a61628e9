"""The DAG with plm.precomputed set: embeddings from the table, no ESM2 job."""

import json
import shlex

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from conftest import DEMO_MARTS, DEMO_PFAM, REPO, run_snakemake
from readme_blocks import readme_commands

from terpene_ensembles.io_utils import sha256_text


def test_dry_run_of_the_real_configuration_with_a_table_plans_no_esm2_job(tmp_path):
    """config/config.yaml (ESM2-650M, no local checkpoint) with plm.precomputed set as
    docs/precomputed_embeddings.md does (its command, with this test's table): the
    embeddings come from embed_precomputed; no embed_shard/embed_gather job is planned."""
    table = tmp_path / "table.parquet"
    pq.write_table(
        pa.table(
            {
                "sequence_sha256": [sha256_text("MA")],
                "embedding": pa.array([[0.5, 1.5]], pa.list_(pa.float32())),
            }
        ),
        table,
    )
    paths = tmp_path / "paths.yaml"
    paths.write_text(
        yaml.safe_dump(
            {
                "marts_csv": str(DEMO_MARTS),
                "plm": {"precomputed": str(table)},
                "features": {"pfam_dir": str(DEMO_PFAM)},
            }
        )
    )
    (command,) = readme_commands("precomputed-training")
    words = shlex.split(command)
    assert words[0] == "snakemake"
    at = words.index("--config") + 1
    key, _, value = words[at].partition("=")
    assert key == "plm" and set(json.loads(value)) == {"precomputed"}
    words[at] = f"plm={json.dumps({'precomputed': str(table)})}"
    result = run_snakemake(
        REPO,
        *words[1:],
        *("-n", "--forceall", "--quiet", "rules"),
        *("--configfile", "config/config.yaml", str(paths)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    planned = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"embed_precomputed", "train", "report"} <= planned, result.stdout
    assert not planned & {"embed_shard", "embed_gather"}, result.stdout
