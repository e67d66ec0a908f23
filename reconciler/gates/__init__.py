"""Gate rules and verdicts: pure functions of recorded metrics."""
