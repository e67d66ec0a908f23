"""Tag names the reconciler writes to MLflow; they are its record, visible in the MLflow UI."""

PREFIX = "reconciler."
MANAGED = PREFIX + "managed"
FINGERPRINT = PREFIX + "fingerprint"
SPEC = PREFIX + "spec"
SPEC_HASH = PREFIX + "spec_hash"
SPEC_FILE = PREFIX + "spec_file"
DATASET_HASH = PREFIX + "dataset_hash"
GIT_COMMIT = PREFIX + "git_commit"
VERSION = PREFIX + "version"
PLAN_ID = PREFIX + "plan"
METRIC_PREFIX = PREFIX + "metric."
GATE_PREFIX = PREFIX + "gate."
LEDGER_PREFIX = PREFIX + "ledger."

# MLflow limits tag values (5000 characters for model version tags).
MAX_TAG_VALUE = 5000
