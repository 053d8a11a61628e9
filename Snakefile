# Terpene synthase functional-ensemble prediction.
# Stages: parse -> embed -> features -> split -> train -> calibrate -> report (+ predict).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


scattergather:
    embed=config["embed"]["shards"],
    predict=config["predict"]["shards"],


include: "workflow/rules/common.smk"
include: "workflow/rules/parse.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/predict.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
