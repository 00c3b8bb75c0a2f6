"""The postback settings of one deployment, as values (no Dagster import, no environment read).

The Dagster layer holds them on ``PostbacksResource`` (bound to the TIKTOK_* variables, shown on the resource
page) and hands them here already resolved; the parsers check text the way an operator types it and name the
variable in their error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tiktok_assets.postbacks.mapping import MappingConfig, load_mapping

DEFAULT_MAX_REJECTION_RATE = 0.02
DEFAULT_MAX_UNDELIVERED_HOURS = 6.0
# Only hours holding more than one slice (50,000 events) use more than one process; 4 keeps a shared host usable.
MAX_DEFAULT_MAP_WORKERS = 4
# The simulator takes any id; fixed ones keep the demo's destinations recognisable.
SIMULATOR_PIXEL_ID = "CSIMULATORPIXEL00000001"
SIMULATOR_APP_ID = "7000000000000000001"
# TikTok's app.app_id of app events that name none: the store's id of the app (the demo's iOS one).
SIMULATOR_STORE_APP_ID = "id6444000001"


def default_map_workers() -> int:
    return min(os.cpu_count() or 1, MAX_DEFAULT_MAP_WORKERS)


@dataclass(frozen=True)
class PostbackSettings:
    drop_dir: str | None = None
    mapping_path: str | None = None
    pixel_id: str | None = None
    # The TikTok App ID of Events Manager (TIKTOK_EVENTS_APP_ID), not the developer app of /oauth2/advertiser/get/.
    app_id: str | None = None
    store_app_id: str | None = None
    test_event_code: str | None = None
    max_rejection_rate: float = DEFAULT_MAX_REJECTION_RATE
    max_undelivered_hours: float = DEFAULT_MAX_UNDELIVERED_HOURS
    map_workers: int = 1

    def mapping(self, uses_simulator: bool) -> MappingConfig:
        """The mapping: the file laid over the defaults, the ids set here winning; on the simulator its ids fill
        what is unset. Raises ``MappingConfigError`` naming the key."""
        return load_mapping(
            self.mapping_path,
            pixel_id=self.pixel_id,
            app_id=self.app_id,
            fallback_pixel_id=SIMULATOR_PIXEL_ID if uses_simulator else None,
            fallback_app_id=SIMULATOR_APP_ID if uses_simulator else None,
            store_app_id=self.store_app_id,
            fallback_store_app_id=SIMULATOR_STORE_APP_ID if uses_simulator else None,
            test_event_code=self.test_event_code,
        )


def optional_text(raw: object) -> str | None:
    """A text setting; empty or blank means unset."""
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def parse_non_negative(raw: object, variable: str, default: float) -> float:
    """A threshold such as a rate (0.02) or hours (6), as text or a number; unset gives ``default``."""
    text = optional_text(raw)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{variable}={text!r} is not a number; set it like {default:g}") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{variable}={text!r} must be a finite number of at least 0; set it like {default:g}")
    return value


def parse_workers(raw: object, variable: str, default: int) -> int:
    """A process count of at least 1, as text or a number; unset gives ``default``."""
    text = optional_text(raw)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{variable}={text!r} is not a whole number of at least 1; set it like {default}")
    return int(text)
