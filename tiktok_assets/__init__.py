"""tiktok_assets: a TikTok Ads data platform as one Dagster code location."""
