"""Rollouts: analysis of live traffic, the next step, and writing it to the registry."""
