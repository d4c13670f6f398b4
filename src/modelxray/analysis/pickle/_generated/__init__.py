"""Generated tables (see scripts/); do not edit by hand."""
