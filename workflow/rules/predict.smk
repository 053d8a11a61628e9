# Screening new sequences with the trained model: see README "Predict".
# Owned by the predict stage; the rule body is completed there.


def predict_input(wildcards):
    if not config["predict_input"] or not config["predict_name"]:
        raise WorkflowError(
            "`snakemake predict` needs --config predict_input=PATH predict_name=NAME"
        )
    return config["predict_input"]
