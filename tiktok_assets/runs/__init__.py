"""What happened to the code location's runs, kept beside the data (no Dagster import)."""
