"""Thin Dagster wrappers over the pure modules; wired together only in tiktok_assets/definitions.py."""
