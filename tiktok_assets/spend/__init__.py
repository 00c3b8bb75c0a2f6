"""Spend import: pull ad-level stats from TikTok and shape them for the warehouse (no Dagster import)."""
