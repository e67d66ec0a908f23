"""`reconciler serve`: every environment's models served by alias, following the registry."""
