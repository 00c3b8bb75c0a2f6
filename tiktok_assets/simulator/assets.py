"""Creative assets of the simulated world: each advertiser's music library and creative portfolios.

Shapes follow the recordings in airbytehq/airbyte
``airbyte-integrations/connectors/source-tiktok-marketing/unit_tests/resource/http/response/``
(``creative_assets_music.json``, ``creative_assets_portfolios.json``), re-typed as contract cases
``creative_assets_music`` and ``creative_assets_portfolios`` (FACTS.md section 10). Values the
recordings show only as placeholders (music ``sources`` types, ``style``, portfolio types) are our
assumptions, listed UNCONFIRMED there.

Everything is drawn from the world's seed and the advertiser id, so two simulators with one seed
serve the same library; an asset exists from its ``create_time`` on, so a listing only grows as
the clock moves.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from tiktok_assets.simulator.entities import AdvertiserSpec, format_time

# Library sizes per advertiser: more than one 100-row page for music (Airbyte pages by 100), so paging is exercised.
MUSIC_RANGE = (120, 180)
PORTFOLIO_RANGE = (3, 12)
MUSIC_STYLES = ("Pop", "Rock", "Electronic", "Hip Hop", "Jazz", "Classical", "Ambient")
MUSIC_SOURCES = ("CUSTOM", "COMMERCIAL_MUSIC")
PORTFOLIO_TYPES = ("CTA", "CARD", "GIFT_CODE", "STICKER")
# Assets are created over the advertiser's first three years (advertisers are 2-4 years old at the epoch).
ASSET_HORIZON = timedelta(days=3 * 365)
ASSET_CDN = "https://sf16-sg.tiktokcdn.com/obj/ad-site-i18n-sg"


def _rng(seed: int, *path: object) -> random.Random:
    # String seeds hash with SHA-512 in random.Random: stable across processes and independent per asset.
    return random.Random("/".join(str(part) for part in (seed, "assets", *path)))


def _asset_id(seed: int, advertiser_id: str, kind: str, serial: int) -> str:
    # 19-digit ids as strings, like TikTok's v1.3 ids (and the recordings' "111111111111111111").
    return str(7_000_000_000_000_000_000 + _rng(seed, advertiser_id, kind, serial).randrange(10**18))


def _created(rng: random.Random, advertiser: AdvertiserSpec) -> datetime:
    # Drawn over a fixed horizon, never from ``now``: an asset's create_time must not move as the clock does.
    return advertiser.create_time + timedelta(seconds=rng.randrange(int(ASSET_HORIZON.total_seconds())))


def music_library(seed: int, advertiser: AdvertiserSpec, now: datetime) -> list[dict[str, object]]:
    """The advertiser's music assets existing at ``now``, oldest first (``file/music/get/`` rows)."""
    count = _rng(seed, advertiser.advertiser_id, "music-count").randint(*MUSIC_RANGE)
    rows: list[tuple[datetime, dict[str, object]]] = []
    for serial in range(count):
        rng = _rng(seed, advertiser.advertiser_id, "music", serial)
        created = _created(rng, advertiser)
        if created > now:
            continue
        modified = min(now, created + timedelta(seconds=rng.randrange(30 * 86400)))
        music_id = _asset_id(seed, advertiser.advertiser_id, "music", serial)
        material_id = _asset_id(seed, advertiser.advertiser_id, "music-material", serial)
        title = f"{advertiser.name} track {serial + 1}"
        rows.append((created, {
            "music_id": music_id,
            "material_id": material_id,
            "sources": [{"type": rng.choice(MUSIC_SOURCES)}],
            "author": advertiser.company,
            "liked": rng.random() < 0.2,
            "cover_url": f"{ASSET_CDN}/music-cover/{material_id}.jpeg",
            "url": f"{ASSET_CDN}/music/{material_id}.mp3",
            # Seconds with a fractional part, a JSON number (the recording's 4.34).
            "duration": round(rng.uniform(5.0, 60.0), 2),
            "style": rng.choice(MUSIC_STYLES),
            "signature": f"{rng.getrandbits(128):032x}",
            "name": title,
            "file_name": f"{title.lower().replace(' ', '_')}.mp3",
            "copyright": f"(c) {created.year} {advertiser.company}",
            "create_time": format_time(created),
            "modify_time": format_time(modified),
        }))
    rows.sort(key=lambda pair: (pair[0], pair[1]["music_id"]))
    return [row for _, row in rows]


def portfolios(seed: int, advertiser: AdvertiserSpec, now: datetime) -> list[dict[str, object]]:
    """The advertiser's creative portfolios existing at ``now``, oldest first (``creative/portfolio/list/`` rows)."""
    count = _rng(seed, advertiser.advertiser_id, "portfolio-count").randint(*PORTFOLIO_RANGE)
    rows: list[tuple[datetime, dict[str, object]]] = []
    for serial in range(count):
        rng = _rng(seed, advertiser.advertiser_id, "portfolio", serial)
        created = _created(rng, advertiser)
        if created > now:
            continue
        portfolio_id = _asset_id(seed, advertiser.advertiser_id, "portfolio", serial)
        rows.append((created, {
            "creative_portfolio_id": portfolio_id,
            "creative_portfolio_type": rng.choice(PORTFOLIO_TYPES),
            "creative_portfolio_preview_url": f"https://ads.tiktok.com/creative/portfolio/preview/{portfolio_id}",
        }))
    rows.sort(key=lambda pair: (pair[0], pair[1]["creative_portfolio_id"]))
    return [row for _, row in rows]
