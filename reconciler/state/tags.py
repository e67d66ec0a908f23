"""Tag names the reconciler writes to MLflow; they are its record, visible in the MLflow UI."""

PREFIX = "reconciler."
MANAGED = PREFIX + "managed"
FINGERPRINT = PREFIX + "fingerprint"
SPEC = PREFIX + "spec"
SPEC_HASH = PREFIX + "spec_hash"
SPEC_FILE = PREFIX + "spec_file"
DATASET_HASH = PREFIX + "dataset_hash"
DATASET_SOURCE = PREFIX + "dataset_source"  # where the data came from, at which pin (no credentials)
GIT_COMMIT = PREFIX + "git_commit"
VERSION = PREFIX + "version"
PLAN_ID = PREFIX + "plan"
METRIC_PREFIX = PREFIX + "metric."
GATE_PREFIX = PREFIX + "gate."
# A verdict a pull request's preview recorded under its own gates: never the environment's
# verdict on main until an apply adopts it (`reconciler.preview.<env>.<gates hash>`).
PREVIEW_PREFIX = PREFIX + "preview."
DIRTY = PREFIX + "git_dirty"
LEDGER_PREFIX = PREFIX + "ledger."
# On a registered model: the rollout under way (or last ended) per environment; on a version:
# how its rollout to an environment ended.
ROLLOUT_PREFIX = PREFIX + "rollout."
# On a version: the summary of the latest monitoring check of it per environment (JSON, with the
# id of the run that holds the check's report).
MONITOR_PREFIX = PREFIX + "monitor."

# MLflow limits tag values (5000 characters for model version tags).
MAX_TAG_VALUE = 5000


def preview_key(environment: str, gates_hash: str) -> str:
    return f"{PREVIEW_PREFIX}{environment}.{gates_hash[:16]}"
