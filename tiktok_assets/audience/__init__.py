"""AUDIENCE breakdowns: which ones TikTok serves, when a day of them is complete, and their frames (no Dagster import).

The Dagster assets are in ``tiktok_assets/defs/audience.py``; the table and its revision-aware writes in
``tiktok_assets/warehouse/audience.py``.
"""
