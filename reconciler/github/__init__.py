"""The GitHub Actions environment: step summary, outputs, annotations. Inert outside Actions."""
