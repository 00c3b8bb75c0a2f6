"""How much re-pulls moved the numbers: large spend revisions and per-day drift (no Dagster import)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa

from tiktok_assets.spend.settle import PullRecord, local_today, settled_dates
from tiktok_assets.spend.zones import ZoneError, report_zone

DEFAULT_REVISION_ALERT_SHARE = 0.05


def parse_revision_alert_share(raw: object) -> float:
    """The share of an ad's spend a revision may move before the check warns: the warehouse resource's
    ``revision_alert_share`` (bound to TIKTOK_REVISION_ALERT_SHARE), passed in by the run."""
    try:
        share = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"TIKTOK_REVISION_ALERT_SHARE must be a positive share such as 0.05, got {raw!r}") from None
    if not 0 < share < 10:
        raise ValueError(f"TIKTOK_REVISION_ALERT_SHARE must be a positive share such as 0.05, got {raw!r}")
    return share


@dataclass(frozen=True)
class PartitionRef:
    advertiser_id: str
    stat_date: date


def revisions_since(engine: sa.Engine, table_name: str, partitions: Iterable[PartitionRef], since: datetime
                    ) -> pd.DataFrame:
    """Revision rows logged for these partitions at or after ``since`` (one run's pulls)."""
    from tiktok_assets.warehouse.tables import stats_revisions as revisions

    refs = list(partitions)
    if not refs:
        return pd.DataFrame()
    advertisers = sorted({ref.advertiser_id for ref in refs})
    dates = sorted({ref.stat_date for ref in refs})
    query = sa.select(revisions).where(
        revisions.c.table_name == table_name,
        revisions.c.advertiser_id.in_(advertisers),
        revisions.c.stat_date.in_(dates),
        revisions.c.pulled_at >= since,
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    if frame.empty:
        return frame
    wanted = {(ref.advertiser_id, ref.stat_date) for ref in refs}
    keys = list(zip(frame["advertiser_id"], pd.to_datetime(frame["stat_date"]).dt.date, strict=True))
    return frame[[key in wanted for key in keys]].reset_index(drop=True)


def large_spend_revisions(revisions: pd.DataFrame, share: float) -> pd.DataFrame:
    """Revisions that moved an ad's spend by more than ``share`` of what it was.

    A row that had no spend and gained some counts as an infinite move.
    """
    if revisions.empty:
        return pd.DataFrame(columns=["advertiser_id", "ad_id", "stat_date", "old_spend", "new_spend", "moved_share"])
    old = revisions["old_spend"].fillna(0.0).astype(float)
    new = revisions["new_spend"].fillna(0.0).astype(float)
    moved = (new - old).abs()
    moved_share = moved.div(old.where(old > 0)).fillna(float("inf")).where(moved > 0, 0.0)
    flagged = revisions.assign(old_spend=old, new_spend=new, moved_share=moved_share)
    flagged = flagged[flagged["moved_share"] > share]
    return flagged[["advertiser_id", "ad_id", "stat_date", "old_spend", "new_spend", "moved_share"]].sort_values(
        "moved_share", ascending=False
    ).reset_index(drop=True)


def latest_pulls(engine: sa.Engine, table_name: str, advertiser_id: str, zone: str, since: date,
                 pulls: sa.Table | None = None) -> list[PullRecord]:
    """The latest pull of each of the advertiser's dates since ``since``, from ``partition_pulls`` (or ``pulls``,
    a log with the same columns: ``level_stats_pulls`` for TikTok's level totals)."""
    if pulls is None:
        from tiktok_assets.warehouse.tables import partition_pulls as pulls

    latest = (
        sa.select(pulls.c.stat_date, sa.func.max(pulls.c.pull_id).label("pull_id"))
        .where(pulls.c.table_name == table_name, pulls.c.advertiser_id == advertiser_id, pulls.c.stat_date >= since)
        .group_by(pulls.c.stat_date)
        .subquery()
    )
    query = sa.select(pulls.c.stat_date, pulls.c.pulled_at, pulls.c.changed).join(
        latest, pulls.c.pull_id == latest.c.pull_id
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        PullRecord(stat_date=stored_date(row.stat_date), pulled_on=local_today(zone, row.pulled_at),
                   changed=bool(row.changed))
        for row in rows
    ]


def settled_partitions(engine: sa.Engine, table_name: str, advertiser_ids: Iterable[str], since: date,
                       settle_days: int, now_utc: datetime) -> set[tuple[str, date]]:
    """(advertiser_id, stat_date) partitions since ``since`` that the re-pull planner calls settled
    (``settle.settled_dates`` over ``latest_pulls``), each advertiser judged on its own report zone.

    An advertiser whose stored zone cannot be read has no settled partitions: "not settled" only means
    "pulled again", never a lost figure.
    """
    from tiktok_assets.warehouse.tables import advertisers

    wanted = sorted(set(advertiser_ids))
    if not wanted:
        return set()
    query = sa.select(advertisers.c.advertiser_id, advertisers.c.timezone, advertisers.c.display_timezone).where(
        advertisers.c.advertiser_id.in_(wanted))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    settled: set[tuple[str, date]] = set()
    for row in rows:
        try:
            zone, _field = report_zone({"timezone": row.timezone, "display_timezone": row.display_timezone})
        except ZoneError:
            continue
        records = latest_pulls(engine, table_name, row.advertiser_id, zone, since)
        settled |= {(row.advertiser_id, day)
                    for day in settled_dates(records, local_today(zone, now_utc), settle_days)}
    return settled


def stored_date(value: date | datetime | str) -> date:
    """A date column's value as a ``date``: SQLite hands some back as text or datetimes."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def drift_table() -> sa.Table:
    """``revision_drift``: per advertiser × date, how far each day moved from its first pull to now."""
    # Defined with every other warehouse table, so create_schema makes it; imported here, not at the top,
    # because the spend domain's pure modules do not need the warehouse.
    from tiktok_assets.warehouse.tables import revision_drift

    return revision_drift


def replace_drift(engine: sa.Engine, table_name: str, drift: pd.DataFrame) -> int:
    """Replace the drift rows of one stats table in one transaction (re-runs are idempotent)."""
    table = drift_table()
    table.create(engine, checkfirst=True)
    # The mask is taken from the frame *with* table_name: a mask lacking a column blanks that column.
    tagged = drift.assign(table_name=table_name)
    records = tagged.astype(object).where(tagged.notna(), None).to_dict("records")
    wanted = {column.name for column in table.columns}
    with engine.begin() as connection:
        connection.execute(sa.delete(table).where(table.c.table_name == table_name))
        if records:
            connection.execute(sa.insert(table), [{k: v for k, v in row.items() if k in wanted} for row in records])
    return len(records)
