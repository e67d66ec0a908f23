"""The feedback loop: snapshots of served traffic as training rows, and proposals to train on them."""
