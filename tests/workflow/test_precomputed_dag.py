"""The DAG with plm.precomputed set: embeddings from the table, no ESM2 job."""

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from conftest import DEMO_MARTS, DEMO_PFAM, REPO, run_snakemake

from terpene_ensembles.io_utils import sha256_text


def test_dry_run_of_the_real_configuration_with_a_table_plans_no_esm2_job(tmp_path):
    """config/config.yaml (ESM2-650M, no local checkpoint) with plm.precomputed set: the
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
    result = run_snakemake(
        REPO,
        *("-n", "--forceall", "--quiet", "rules"),
        *("--configfile", "config/config.yaml", str(paths)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    planned = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"embed_precomputed", "train", "report"} <= planned, result.stdout
    assert not planned & {"embed_shard", "embed_gather"}, result.stdout
