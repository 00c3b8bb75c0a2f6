"""The Dagster UI, for real: demo data in a fresh instance, dagster-webserver, headless Chromium.

What a user sees after `tiktok-assets demo`: the stats assets in the asset
graph, their materialized partitions, a partition's metadata (compared with
the warehouse), the result of an asset check, the resource pages (a
deployment's settings, bound to their variables, never a secret's value) and
a stats asset's freshness status. Screenshots go to
``test-artifacts/`` at the repo root, with the webserver's and the demo's logs.

Debian's Chromium drives it (Playwright's own browser download needs the
internet). One test function on purpose: the webserver and the demo cost most
of the time, and pytest-xdist would start them once per worker otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
DEMO_DAYS = 2
SERVER_START_SECONDS = 60
UI_TIMEOUT_MS = 20_000


# What the code location's environment holds in a deployment: the webserver's code location gets these (the
# demo stays on the simulator); the resource pages must name the variables and never show the secrets' values.
ACCESS_TOKEN_CANARY = "tok-ui-canary-3f9a1c77e2"
APP_SECRET_CANARY = "secret-ui-canary-b41d0e"
DEPLOYMENT_SECRETS = {"TIKTOK_ACCESS_TOKEN": ACCESS_TOKEN_CANARY, "TIKTOK_APP_SECRET": APP_SECRET_CANARY,
                      "TIKTOK_APP_ID": "7000000000000000001"}
POSTBACK_SETTINGS = {"TIKTOK_PIXEL_ID": "CUITESTPIXEL0001", "TIKTOK_POSTBACK_MAX_REJECTION_RATE": "0.05"}
# One iteration of Dagster's freshness daemon (what `dagster-daemon run` does every 30 s): the UI shows the
# freshness state it records. Only that daemon: the scheduler and sensors would start runs of their own.
FRESHNESS_ITERATION = """
import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.freshness import FreshnessDaemon

with dg.DagsterInstance.get() as instance, WorkspaceProcessContext(
        instance, WorkspaceFileTarget(paths=["workspace.yaml"])) as context:
    for _ in FreshnessDaemon().run_iteration(context):
        pass
"""


@dataclass(frozen=True)
class DemoUi:
    base_url: str
    warehouse: sa.Engine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _scratch_root() -> str | None:
    # Dagster's SQLite event log syncs every event to disk; on a busy disk the
    # demo then takes 40 s instead of 11. RAM-backed /dev/shm avoids that where it exists.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _environment(home: Path, warehouse_url: str) -> dict[str, str]:
    # Never a real TikTok account from the developer's shell: the demo must hit the simulator.
    env = {name: value for name, value in os.environ.items() if not name.startswith("TIKTOK_")}
    return env | POSTBACK_SETTINGS | {"DAGSTER_HOME": str(home), "TIKTOK_WAREHOUSE_URL": warehouse_url,
                                      "PYTHONUNBUFFERED": "1"}


def _initialise_instance(home: Path) -> None:
    """Create the instance's storage up front, so the demo and the webserver never race to create it."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    instance.get_runs(limit=1)
    instance.dispose()


def _wait_until_serving(base_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited with code {server.returncode}; see {log}")
        try:
            if httpx.get(f"{base_url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not answer {base_url}/server_info within {SERVER_START_SECONDS} s; see {log}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group we started (webserver and its code server), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def demo_ui() -> Iterator[DemoUi]:
    if not CHROMIUM.exists():
        pytest.skip(f"BROWSER TEST SKIPPED: no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    ARTIFACTS.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="tiktok_ui_test_", dir=_scratch_root()))
    home = scratch / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse_url = f"sqlite:///{scratch / 'warehouse.sqlite'}"
    env = _environment(home, warehouse_url)
    _initialise_instance(home)
    port = _free_port()
    server_log = ARTIFACTS / "ui-dagster-webserver.log"
    webserver = Path(sys.executable).with_name("dagster-webserver")
    with server_log.open("w") as log:
        # Its own process group: the webserver starts a code server we must stop too.
        # The webserver's code location holds a token (it only shows definitions; no daemon runs its schedules).
        server = subprocess.Popen(
            [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT, env=env | DEPLOYMENT_SECRETS, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    engine = None
    try:
        # The demo fills the instance while the webserver starts: the UI reads the instance live.
        demo = subprocess.run(
            [sys.executable, "-m", "tiktok_assets.cli", "demo", "--days", str(DEMO_DAYS), "--no-reports"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        (ARTIFACTS / "ui-demo.log").write_text(demo.stdout + demo.stderr)
        assert demo.returncode == 0, f"demo failed (exit {demo.returncode}):\n{demo.stderr[-3000:]}"
        freshness = subprocess.run([sys.executable, "-c", FRESHNESS_ITERATION], cwd=REPO_ROOT, env=env,
                                   capture_output=True, text=True, timeout=120)
        (ARTIFACTS / "ui-freshness-daemon.log").write_text(freshness.stdout + freshness.stderr)
        assert freshness.returncode == 0, f"freshness iteration failed:\n{freshness.stderr[-3000:]}"
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_serving(base_url, server, server_log)
        engine = sa.create_engine(warehouse_url)
        yield DemoUi(base_url, engine)
    finally:
        _stop(server)
        if engine is not None:
            engine.dispose()
        shutil.rmtree(scratch, ignore_errors=True)


def _value_after(label: str, text: str) -> str:
    """In the UI's text, the value shown on the line after a metadata label."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        return lines[lines.index(label) + 1]
    except (ValueError, IndexError):
        raise AssertionError(f"metadata label {label!r} not shown; page text:\n{text[:3000]}") from None


def _number(shown: str) -> float:
    return float(shown.replace(",", ""))


def test_the_ui_shows_the_demo_assets_partitions_metadata_and_checks(demo_ui: DemoUi) -> None:
    from playwright.sync_api import expect, sync_playwright

    with demo_ui.warehouse.connect() as connection:
        pulled_partitions = connection.execute(sa.text(
            "select count(*) from (select distinct advertiser_id, stat_date from partition_pulls "
            "where table_name = 'ad_stats_daily') as partitions")).scalar_one()
        advertiser_id, stat_date, rows, spend = connection.execute(sa.text(
            "select advertiser_id, stat_date, count(*), sum(spend) from ad_stats_daily "
            "group by advertiser_id, stat_date order by sum(spend) desc limit 1")).one()
    # The demo imports DEMO_DAYS local days for each of the simulator's four advertisers.
    assert pulled_partitions == DEMO_DAYS * 4

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            # (a) The spend group's asset graph lists both stats assets (the global graph
            # collapses each group into one node once there are several groups). The group is
            # wider than a screen and the graph draws only the nodes in view, so it is filtered
            # to the two stats assets, as a user searching for them would.
            page.goto(f"{demo_ui.base_url}/locations/tiktok_assets/asset-groups/tiktok_spend/lineage")
            _dismiss_community_prompt(page)
            # The selection box is a code editor, not an <input>: click it and type.
            page.locator(".CodeMirror").first.click()
            page.keyboard.type("key:ad_stats_daily or key:ad_stats_hourly")
            page.keyboard.press("Enter")
            for asset in ("ad_stats_daily", "ad_stats_hourly"):
                expect(page.get_by_text(asset, exact=True).first).to_be_visible()
            # Nodes fill in their latest events and checks a moment later; the screenshot should show them.
            expect(page.get_by_text(re.compile(r"^Loading"))).to_have_count(0)
            page.screenshot(path=ARTIFACTS / "ui-1-asset-graph.png")

            # (b) The partitions page counts the materialized partitions.
            page.goto(f"{demo_ui.base_url}/assets/ad_stats_daily?view=partitions")
            expect(page.get_by_text(f"Materialized ({pulled_partitions})", exact=True)).to_be_visible()
            page.screenshot(path=ARTIFACTS / "ui-2-partitions.png")

            # (c) One partition's materialization metadata matches the warehouse.
            partition = f"{stat_date}|{advertiser_id}"
            page.goto(f"{demo_ui.base_url}/assets/ad_stats_daily?view=partitions&partition={partition}")
            expect(page.get_by_text("rows_served", exact=True).first).to_be_visible()
            text = page.inner_text("body")
            assert int(_number(_value_after("rows_served", text))) == rows
            assert _number(_value_after("spend", text)) == pytest.approx(spend, abs=0.01)
            assert _value_after("stat_date", text) == str(stat_date)
            page.screenshot(path=ARTIFACTS / "ui-3-partition-metadata.png")

            # (d) The asset checks ran and passed.
            page.goto(f"{demo_ui.base_url}/assets/ad_stats_daily?view=checks")
            page.get_by_text("stats_schema_valid", exact=True).first.click()
            expect(page.get_by_text("failure_cases", exact=True).first).to_be_visible()
            expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
            assert _number(_value_after("failure_cases", page.inner_text("body"))) == 0
            page.screenshot(path=ARTIFACTS / "ui-4-asset-check.png")

            # (e) The resource pages: a deployment's settings, each bound to its variable, never a secret's value.
            page.goto(f"{demo_ui.base_url}/locations/tiktok_assets/resources/postbacks")
            for field in ("drop_dir", "pixel_id", "app_id", "test_event_code", "max_rejection_rate", "map_workers"):
                expect(page.get_by_text(field, exact=True).first).to_be_visible()
            for variable in POSTBACK_SETTINGS:
                expect(page.get_by_text(variable).first).to_be_visible()
            _assert_no_secret(page)
            page.screenshot(path=ARTIFACTS / "ui-5-postbacks-resource.png")
            page.goto(f"{demo_ui.base_url}/locations/tiktok_assets/resources/tiktok_api")
            expect(page.get_by_text("access_token", exact=True).first).to_be_visible()
            expect(page.get_by_text("TIKTOK_ACCESS_TOKEN").first).to_be_visible()
            _assert_no_secret(page)
            page.screenshot(path=ARTIFACTS / "ui-6-tiktok-api-resource.png")

            # (f) The freshness status of a stats asset: materialized by the demo a moment ago, within its window.
            page.goto(f"{demo_ui.base_url}/assets/ad_stats_daily")
            expect(page.get_by_text("Freshness policy", exact=True).first).to_be_visible()
            # The policy's fail window, and the state the freshness daemon recorded ("Not evaluated" before it ran).
            expect(page.get_by_text("Fails if more than 2 hours since last materialization").first).to_be_visible()
            expect(page.get_by_text("Passing", exact=True).first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "ui-7-freshness.png")
        except Exception:
            page.screenshot(path=ARTIFACTS / "ui-failure.png")
            raise
        finally:
            browser.close()


def _assert_no_secret(page) -> None:  # noqa: ANN001 - a Playwright Page
    """Neither secret's value in the page's text nor in its HTML (attributes, hidden elements included)."""
    for shown in (page.inner_text("body"), page.content()):
        assert ACCESS_TOKEN_CANARY not in shown and APP_SECRET_CANARY not in shown


def _dismiss_community_prompt(page) -> None:  # noqa: ANN001 - a Playwright Page
    """The "Join the Dagster community" dialog covers the page on a first visit; it is remembered after."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    skip = page.get_by_role("button", name=re.compile(r"^Skip$"))
    try:
        skip.click(timeout=5_000)
    except PlaywrightTimeout:
        pass
