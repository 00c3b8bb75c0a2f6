"""Loading first-party events into the warehouse: files, a drop directory, the demo stream (no Dagster import).

The Python API is :func:`~tiktok_assets.postbacks.store.store_events`; this
module adds files (:func:`load_event_file`) and a drop directory
(:func:`ingest_drop_directory`): every ``*.jsonl`` / ``*.csv`` file in it is
loaded, then moved to ``processed/`` (or to ``rejected/`` when the whole file is
unusable). Loading is idempotent (an event already stored is skipped), so a
file dropped twice, or picked up by two runs at once, stores its events once.
Write files under another name (``orders.jsonl.part``) and rename them when
complete, so a half-written file is never picked up.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tiktok_assets.postbacks.errors import EventFileError
from tiktok_assets.postbacks.events import LoadResult, Rejected, read_csv, read_jsonl
from tiktok_assets.postbacks.store import store_events
from tiktok_assets.warehouse.tables import ad_history, advertisers

EVENT_FILE_READERS = {".jsonl": read_jsonl, ".ndjson": read_jsonl, ".csv": read_csv}
PROCESSED_DIR = "processed"
REJECTED_DIR = "rejected"
# "line 12: event 'o-1': field 'email': ..." -> "field 'email': ...", for counting reasons across lines.
_REJECT_PREFIX = re.compile(r"^line \d+: (?:event (?:'[^']*'|without a usable event_id): )?")


@dataclass(frozen=True)
class FileLoad:
    """One file's outcome."""

    name: str
    inserted: int = 0
    already_stored: int = 0
    rejects: tuple[Rejected, ...] = ()
    field_drops: Mapping[str, int] = field(default_factory=dict)
    """Identity values left out of its stored events, by reason: the events were stored without them."""
    error: str | None = None
    """Why the whole file was refused (then nothing of it was loaded)."""


@dataclass(frozen=True)
class DropIngest:
    files: tuple[FileLoad, ...]

    @property
    def inserted(self) -> int:
        return sum(load.inserted for load in self.files)

    @property
    def already_stored(self) -> int:
        return sum(load.already_stored for load in self.files)

    @property
    def bad_lines(self) -> int:
        return sum(len(load.rejects) for load in self.files)

    def field_drops(self) -> Counter[str]:
        """Identity values left out of stored events (an email that is no address...), by reason."""
        total: Counter[str] = Counter()
        for load in self.files:
            total.update(load.field_drops)
        return total

    def reject_reasons(self) -> Counter[str]:
        """Bad lines counted by reason, line numbers and event ids left out."""
        return Counter(reject_kind(reject.reason) for load in self.files for reject in load.rejects)


def reject_kind(reason: str) -> str:
    return _REJECT_PREFIX.sub("", reason)


def read_event_file(path: str | Path) -> LoadResult:
    """The events and bad lines of a ``.jsonl``/``.ndjson`` or ``.csv`` file."""
    path = Path(path)
    reader = EVENT_FILE_READERS.get(path.suffix.lower())
    if reader is None:
        raise EventFileError(f"{path.name}: unknown file type; drop .jsonl or .csv files ({', '.join(EVENT_FILE_READERS)})")
    return reader(path)


def load_event_file(engine: Engine, path: str | Path, *, received_at: datetime | None = None) -> FileLoad:
    """Store the good events of one file; bad lines are returned with their reasons, never stop the load."""
    path = Path(path)
    try:
        loaded = read_event_file(path)
    except EventFileError as error:
        return FileLoad(path.name, error=str(error))
    stored = store_events(engine, loaded.events, received_at=received_at)
    return FileLoad(path.name, stored.inserted, stored.already_stored, tuple(loaded.rejects), loaded.field_drops)


def ingest_drop_directory(engine: Engine, directory: str | Path, *, received_at: datetime | None = None) -> DropIngest:
    """Load every event file in ``directory`` (oldest name first) and move each to ``processed/`` or ``rejected/``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EventFileError(f"event drop directory {directory} does not exist: create it or fix TIKTOK_EVENTS_DROP_DIR")
    received_at = received_at or datetime.now(UTC)
    loads = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix.lower() not in EVENT_FILE_READERS:
            continue
        load = load_event_file(engine, path, received_at=received_at)
        _move(path, directory / (REJECTED_DIR if load.error else PROCESSED_DIR), received_at)
        loads.append(load)
    return DropIngest(tuple(loads))


def _move(path: Path, target_directory: Path, stamp: datetime) -> None:
    target_directory.mkdir(exist_ok=True)
    target = target_directory / path.name
    if target.exists():
        # The same name dropped again: keep both, the later one stamped.
        target = target_directory / f"{path.stem}.{stamp:%Y%m%dT%H%M%S%f}{path.suffix}"
    try:
        shutil.move(path, target)
    except FileNotFoundError:
        pass  # another run loaded and moved it meanwhile; its events are stored once either way


def current_ads(engine: Engine) -> list[dict[str, Any]]:
    """Ads in force now with campaign and currency, from the warehouse: what the demo stream lands sessions from."""
    statement = (
        sa.select(ad_history.c.ad_id, ad_history.c.campaign_id, ad_history.c.advertiser_id, advertisers.c.currency)
        .join(advertisers, advertisers.c.advertiser_id == ad_history.c.advertiser_id, isouter=True)
        .where(ad_history.c.valid_to.is_(None), ad_history.c.campaign_id.is_not(None))
        .order_by(ad_history.c.ad_id)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement)]


def files_summary(loads: Sequence[FileLoad]) -> list[dict[str, Any]]:
    """One row per file for a metadata table."""
    return [
        {"file": load.name, "inserted": load.inserted, "already_stored": load.already_stored,
         "bad_lines": len(load.rejects), "error": load.error or ""}
        for load in loads
    ]
