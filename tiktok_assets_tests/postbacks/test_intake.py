"""Loading first-party events: a drop directory of JSONL/CSV files, and the first_party_events asset in both its modes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tiktok_assets.defs.postbacks import FirstPartyEventsConfig, first_party_events
from tiktok_assets.defs.resources import PostbacksResource, TikTokApiResource, WarehouseResource
from tiktok_assets.postbacks.intake import ingest_drop_directory
from tiktok_assets.postbacks.store import read_events
from tiktok_assets_tests.conftest import SIM_NOW

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)


def line(event_id: str, **fields: object) -> str:
    record = {"event_id": event_id, "source": "web", "event_name": "$page_load", "event_time": "2026-11-20T10:15:00Z",
              "page_url": "https://shop.example.com/", **fields}
    return json.dumps(record)


def write_drop(directory) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "a_orders.jsonl").write_text("\n".join([
        line("j1"), line("j2", email="Zoe@Example.com"), line("j3"),
        '{"event_id": "broken", ',  # not JSON
        line("j4", email="jane doe@example.com", phone="0044 20 7946 0958"),  # a bad email drops the email only
    ]) + "\n")
    (directory / "b_orders.csv").write_text(
        "event_id,source,event_name,event_time,page_url,value,currency\n"
        "c1,web,Placed Order,2026-11-20T10:20:00Z,https://shop.example.com/thanks,12.5,usd\n"
        "c2,web,Placed Order,2026-11-20T10:21:00Z,,12.5,USD\n"  # web event without page_url
    )
    (directory / "c_broken.csv").write_text("event_id,source,event_name\nx,web,Searched\n")  # no event_time column
    (directory / "notes.txt").write_text("not an event file")
    (directory / "d_upload.jsonl.part").write_text(line("p1"))  # still being written


def test_a_drop_directory_is_loaded_and_its_files_moved(engine, tmp_path):
    drop = tmp_path / "drop"
    write_drop(drop)

    ingest = ingest_drop_directory(engine, drop, received_at=SIM_NOW)

    # Issue 15, defect 4: j4's email is no address; j4 is kept without it, and the drop counted.
    assert (ingest.inserted, ingest.already_stored, ingest.bad_lines) == (5, 0, 2)
    assert [(load.name, load.inserted, len(load.rejects), load.error is not None) for load in ingest.files] == [
        ("a_orders.jsonl", 4, 1, False), ("b_orders.csv", 1, 1, False), ("c_broken.csv", 0, 0, True)]
    assert ingest.field_drops() == {"email_invalid": 1}
    assert "missing required column(s) event_time" in ingest.files[2].error
    reasons = ingest.reject_reasons()
    assert sum(reasons.values()) == 2
    assert any(reason.startswith("field 'page_url': is required for web events") for reason in reasons)
    assert any(reason.startswith("not valid JSON") for reason in reasons)
    assert sorted(path.name for path in (drop / "processed").iterdir()) == ["a_orders.jsonl", "b_orders.csv"]
    assert [path.name for path in (drop / "rejected").iterdir()] == ["c_broken.csv"]
    assert sorted(path.name for path in drop.iterdir() if path.is_file()) == ["d_upload.jsonl.part", "notes.txt"]
    stored = read_events(engine, HOUR, HOUR + timedelta(hours=1))
    assert [event.event_id for event in stored] == ["j1", "j2", "j3", "j4", "c1"]
    assert (stored[3].identity.email, stored[3].identity.phone) == (None, "0044 20 7946 0958")

    # The same file dropped again stores nothing twice and keeps both copies.
    (drop / "a_orders.jsonl").write_text(line("j1") + "\n")
    again = ingest_drop_directory(engine, drop, received_at=SIM_NOW + timedelta(minutes=5))
    assert (again.inserted, again.already_stored) == (0, 1)
    assert len(list((drop / "processed").iterdir())) == 3


def test_the_asset_loads_the_drop_directory_of_the_resource_and_counts_bad_lines(tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    write_drop(drop)
    # Issue 16, defect 6: the run reads the postbacks resource, not what the environment says.
    monkeypatch.setenv("TIKTOK_EVENTS_DROP_DIR", str(tmp_path / "not-this-one"))
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")

    result = dg.materialize([first_party_events], resources={
        "tiktok_api": TikTokApiResource(), "warehouse": warehouse, "postbacks": PostbacksResource(drop_dir=str(drop))})

    metadata = result.asset_materializations_for_node("first_party_events")[0].metadata
    assert (metadata["files"].value, metadata["events_inserted"].value, metadata["bad_lines"].value) == (3, 5, 2)
    assert "is required for web events" in metadata["bad_line_reasons"].value
    assert metadata["identity_values_dropped"].value == {"email_invalid": 1}
    assert "Zoe@Example.com" not in str({name: value.value for name, value in metadata.items()})


def test_without_a_drop_directory_the_simulator_demo_stream_fills_the_last_hours_once(tmp_path, monkeypatch):
    monkeypatch.delenv("TIKTOK_EVENTS_DROP_DIR", raising=False)
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    resources = {"tiktok_api": TikTokApiResource(), "warehouse": warehouse, "postbacks": PostbacksResource()}
    config = dg.RunConfig(ops={"first_party_events": FirstPartyEventsConfig(demo_hours=2)})

    before_run = datetime.now(UTC)
    first = dg.materialize([first_party_events], resources=resources, run_config=config)
    second = dg.materialize([first_party_events], resources=resources, run_config=config)

    this_hour = before_run.replace(minute=0, second=0, microsecond=0)
    loaded = read_events(warehouse.get_engine(), this_hour - timedelta(hours=5), this_hour + timedelta(hours=2))
    before, after = (result.asset_materializations_for_node("first_party_events")[0].metadata for result in (first, second))
    # The second run stores only what happened between the two (in the hour in progress), nothing twice.
    assert before["events_inserted"].value + after["events_inserted"].value == len(loaded) > 0
    assert after["events_already_stored"].value == before["events_inserted"].value
    assert {event.event_time.replace(minute=0, second=0, microsecond=0) for event in loaded} <= {
        this_hour - timedelta(hours=1), this_hour}
    assert max(event.event_time for event in loaded) <= datetime.now(UTC)


def test_with_a_real_token_and_no_drop_directory_nothing_is_invented(tmp_path, monkeypatch):
    monkeypatch.delenv("TIKTOK_EVENTS_DROP_DIR", raising=False)
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}")

    with pytest.raises(dg.Failure, match="set TIKTOK_EVENTS_DROP_DIR"):
        dg.materialize([first_party_events],
                       resources={"tiktok_api": TikTokApiResource(access_token="real-token"), "warehouse": warehouse,
                                  "postbacks": PostbacksResource()})
