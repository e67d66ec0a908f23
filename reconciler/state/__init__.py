"""Actual state. Only reconciler.state.mlflow_store imports mlflow (the one door)."""
