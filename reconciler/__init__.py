"""A GitOps reconciler for machine-learning models: specs in git, state in MLflow."""

__version__ = "0.1.0"
