"""Git: revisions, provenance and specs at a revision (GitPython)."""
