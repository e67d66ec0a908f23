"""Execute a plan step by step: train, evaluate, promote. Every step is safe to repeat."""
