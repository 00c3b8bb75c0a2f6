"""Conversion postbacks: first-party events mapped to TikTok events for the Events API (no Dagster import).

``events`` (the first-party model and its files), ``pii`` (normalising and
hashing), ``mapping`` (which events become which, as configuration),
``payloads`` (Events API data items and batches), ``synthetic`` (a
deterministic demo stream).
"""
