"""Resources: configuration that hands out clients, never logic."""


import os

import dagster as dg
from dagster._config.field_utils import IntEnvVar
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Engine

from tiktok_assets.postbacks.settings import (
    DEFAULT_MAX_REJECTION_RATE,
    DEFAULT_MAX_UNDELIVERED_HOURS,
    PostbackSettings,
    default_map_workers,
    optional_text,
    parse_non_negative,
    parse_workers,
)
from tiktok_assets.spend.extra import EXTRA_METRICS_FILE_VARIABLE, EXTRA_METRICS_VARIABLE, chosen_metrics
from tiktok_assets.spend.probe import DEFAULT_VERIFY_EVERY_DAYS, ProbeSettings, parse_probe_settings
from tiktok_assets.spend.revisions import DEFAULT_REVISION_ALERT_SHARE, parse_revision_alert_share
from tiktok_assets.spend.settle import DEFAULT_SETTLE_DAYS, MAX_SETTLE_DAYS, parse_settle_days
from tiktok_assets.tiktok.client import DEFAULT_BASE_URL, RetryPolicy, TikTokClient


class TikTokApiResource(dg.ConfigurableResource):
    """TikTok Business API access.

    With no access token configured the embedded simulator answers instead:
    in-process when no base URL is set either, or over HTTP at
    ``TIKTOK_API_BASE_URL`` (e.g. ``python -m tiktok_assets.simulator``).
    """

    # repr=False: Dagster and pydantic print resources in logs and errors; a token must never show.
    access_token: str | None = Field(
        default=None, repr=False, description="TikTok long-term access token (keep it in TIKTOK_ACCESS_TOKEN)."
    )
    advertiser_ids: str | None = Field(
        default=None, description="Comma-separated advertiser ids to import; empty means every authorised one."
    )
    base_url: str | None = Field(default=None, description="API base URL; empty means TikTok's, or the simulator without a token.")
    app_id: str | None = Field(default=None, description="App id for /oauth2/advertiser/get/ (real API only).")
    app_secret: str | None = Field(default=None, repr=False, description="App secret for /oauth2/advertiser/get/ (real API only).")
    qps: float = Field(default=10.0, description="Client-side request rate ceiling per process.")
    max_attempts: int = Field(default=6, description="Attempts per request on throttling, 5xx and timeouts.")
    backoff_seconds: float = Field(default=0.5, description="First retry delay; doubles each attempt, with jitter.")
    timeout_seconds: float = Field(default=30.0)
    simulator_seed: int = Field(default=7, description="World seed of the in-process simulator.")

    @property
    def uses_simulator(self) -> bool:
        return not self.access_token

    def selected_advertiser_ids(self) -> list[str] | None:
        advertiser_ids = _setting_value(self.advertiser_ids, None)
        if not advertiser_ids:
            return None
        return [part.strip() for part in advertiser_ids.split(",") if part.strip()]

    def app_credentials(self) -> tuple[str | None, str | None]:
        """(app_id, app_secret) as values, for ``/oauth2/advertiser/get/``."""
        return _setting_value(self.app_id, None), _setting_value(self.app_secret, None)

    def get_client(self) -> TikTokClient:
        retry = RetryPolicy(max_attempts=self.max_attempts, base_delay=self.backoff_seconds)
        base_url = _setting_value(self.base_url, None)
        if self.access_token:
            return TikTokClient(_setting_value(self.access_token, None), base_url or DEFAULT_BASE_URL, qps=self.qps, retry=retry,
                                timeout=self.timeout_seconds)
        from tiktok_assets.simulator import DEFAULT_ACCESS_TOKEN

        if base_url:
            return TikTokClient(DEFAULT_ACCESS_TOKEN, base_url, qps=self.qps, retry=retry,
                                timeout=self.timeout_seconds)
        return TikTokClient(DEFAULT_ACCESS_TOKEN, "http://simulator.local", qps=None, retry=retry,
                            timeout=self.timeout_seconds, transport=_in_process_simulator(self.simulator_seed).transport())


_SIMULATORS: dict[int, object] = {}


def _in_process_simulator(seed: int):  # noqa: ANN202 - the simulator type is imported lazily
    # One simulator per seed and process: the world is deterministic, so every
    # asset in a run sees the same advertisers whichever client asks.
    from tiktok_assets.simulator import Simulator, World

    if seed not in _SIMULATORS:
        _SIMULATORS[seed] = Simulator(world=World(seed=seed), qps=None)
    return _SIMULATORS[seed]


def default_warehouse_url() -> str:
    home = os.environ.get("DAGSTER_HOME") or os.getcwd()
    return f"sqlite:///{os.path.join(home, 'tiktok_warehouse.sqlite')}"


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse: a SQLite file by default, any SQLAlchemy URL via TIKTOK_WAREHOUSE_URL; and how it
    treats re-pulls (settle window, revision alert), so one deployment's settings are on one resource page."""

    url: str | None = Field(default=None, description="SQLAlchemy URL; empty means a SQLite file in DAGSTER_HOME.")
    settle_days: int = Field(
        default=DEFAULT_SETTLE_DAYS,
        description=f"TIKTOK_SETTLE_DAYS: days TikTok keeps revising a day (1 to {MAX_SETTLE_DAYS}). The daily "
        "re-pull covers them; a day older than this whose next pull changed nothing is settled.",
    )
    # Text, not float: Dagster config has no float source, so a float field could not be bound to an EnvVar.
    revision_alert_share: str = Field(
        default=str(DEFAULT_REVISION_ALERT_SHARE),
        description="TIKTOK_REVISION_ALERT_SHARE: a re-pull moving an ad's spend by more than this share of its "
        "previous value makes spend_revision_within_threshold warn (0.05 = 5%).",
    )
    repull_probe: str = Field(
        default="on",
        description="TIKTOK_REPULL_PROBE: on/off. A settle re-pull asks each advertiser's advertiser- and "
        "campaign-level daily totals first and pulls ad-level rows only for days whose totals moved.",
    )
    probe_verify_every_days: int = Field(
        default=DEFAULT_VERIFY_EVERY_DAYS,
        description="TIKTOK_PROBE_VERIFY_EVERY_DAYS: a day is pulled at ad level whatever the probe says when its "
        "age is a multiple of this (0 to 28; 0 turns the periodic full verify off).",
    )

    _engine: Engine | None = PrivateAttr(default=None)

    @property
    def resolved_url(self) -> str:
        return _setting_value(self.url, None) or default_warehouse_url()

    def get_engine(self) -> Engine:
        if self._engine is None:
            from tiktok_assets.warehouse import create_schema, make_engine

            engine = make_engine(self.resolved_url)
            create_schema(engine)
            self._engine = engine
        return self._engine

    @property
    def dialect(self) -> str:
        return self.get_engine().dialect.name

    def settle_window_days(self) -> int:
        """``settle_days``, checked (1 to 28); a wrong value fails the run naming TIKTOK_SETTLE_DAYS."""
        return parse_settle_days(_setting_value(self.settle_days, DEFAULT_SETTLE_DAYS))

    def alert_share(self) -> float:
        """``revision_alert_share`` as a number; a wrong value fails the run naming TIKTOK_REVISION_ALERT_SHARE."""
        return parse_revision_alert_share(_setting_value(self.revision_alert_share, DEFAULT_REVISION_ALERT_SHARE))

    def probe_settings(self) -> ProbeSettings:
        """``repull_probe`` and ``probe_verify_every_days``, checked; a wrong value fails the run naming its variable."""
        return parse_probe_settings(_setting_value(self.repull_probe, "on"),
                                    _setting_value(self.probe_verify_every_days, DEFAULT_VERIFY_EVERY_DAYS))


class PostbacksResource(dg.ConfigurableResource):
    """Conversion postbacks: where first-party events come from, where TikTok's Events API sends them, and the
    thresholds of the delivery checks. Runs read these fields, never the environment, so the resource page shows
    a deployment's whole postback setup; the Events API token is ``tiktok_api``'s access token (a secret, kept
    there as an ``EnvVar``)."""

    drop_dir: str | None = Field(
        default=None, description="TIKTOK_EVENTS_DROP_DIR: directory of .jsonl/.csv event files first_party_events "
        "loads (then moves to processed/). Empty: on the simulator, the demo stream; else the run fails.")
    mapping_path: str | None = Field(
        default=None, description="TIKTOK_EVENT_MAPPING: path of a mapping YAML laid over the shipped defaults.")
    pixel_id: str | None = Field(
        default=None, description="TIKTOK_PIXEL_ID: the TikTok Pixel ID web events go to (wins over the mapping file).")
    app_id: str | None = Field(
        default=None, description="TIKTOK_EVENTS_APP_ID: the TikTok App ID (Events Manager) app events go to; not "
        "TIKTOK_APP_ID, the developer app of the spend import.")
    store_app_id: str | None = Field(
        default=None, description="TIKTOK_EVENTS_STORE_APP_ID: TikTok's app.app_id for app events naming none "
        "(App Store id1234567890, Google Play com.example.shop).")
    test_event_code: str | None = Field(
        default=None, description="TIKTOK_EVENTS_TEST_EVENT_CODE: send both destinations' events to Events "
        "Manager's test tool only (not counted), to check the setup before going live.")
    # Text, not float: Dagster config has no float source, so a float field could not be bound to an EnvVar.
    max_rejection_rate: str = Field(
        default=str(DEFAULT_MAX_REJECTION_RATE), description="TIKTOK_POSTBACK_MAX_REJECTION_RATE: "
        "rejection_rate_within_threshold fails above this share of the events TikTok answered for (0.02 = 2%).")
    max_undelivered_hours: str = Field(
        default=f"{DEFAULT_MAX_UNDELIVERED_HOURS:g}", description="TIKTOK_POSTBACK_MAX_UNDELIVERED_HOURS: "
        "no_events_left_undelivered warns when an event waited longer than this in the outbox.")
    map_workers: int | None = Field(
        default=None, description="TIKTOK_POSTBACK_MAP_WORKERS: processes mapping an hour holding more than "
        "50,000 events. Empty: the CPUs, at most 4.")

    def settings(self) -> PostbackSettings:
        """The fields as values (``EnvVar`` resolved outside a run too); a wrong one raises naming its variable."""
        return PostbackSettings(
            drop_dir=optional_text(_setting_value(self.drop_dir, None)),
            mapping_path=optional_text(_setting_value(self.mapping_path, None)),
            pixel_id=optional_text(_setting_value(self.pixel_id, None)),
            app_id=optional_text(_setting_value(self.app_id, None)),
            store_app_id=optional_text(_setting_value(self.store_app_id, None)),
            test_event_code=optional_text(_setting_value(self.test_event_code, None)),
            max_rejection_rate=parse_non_negative(_setting_value(self.max_rejection_rate, None),
                                                  "TIKTOK_POSTBACK_MAX_REJECTION_RATE", DEFAULT_MAX_REJECTION_RATE),
            max_undelivered_hours=parse_non_negative(_setting_value(self.max_undelivered_hours, None),
                                                     "TIKTOK_POSTBACK_MAX_UNDELIVERED_HOURS",
                                                     DEFAULT_MAX_UNDELIVERED_HOURS),
            map_workers=parse_workers(_setting_value(self.map_workers, None), "TIKTOK_POSTBACK_MAP_WORKERS",
                                      default_map_workers()),
        )


class ExtraMetricsResource(dg.ConfigurableResource):
    """BASIC metrics to pull beyond the core set, by TikTok's names (``ad_metrics_extra_daily``).

    Both fields may be set: the listed names come first, then the file's. Every name is checked against TikTok's
    metric catalogue (``tiktok_assets.tiktok.catalogue``) before any request; a wrong one fails the run naming it.
    """

    metrics: str | None = Field(default=None, description=(
        "Comma-separated TikTok metric names, e.g. 'video_watched_2s,likes,profile_visits' "
        f"({EXTRA_METRICS_VARIABLE})."))
    metrics_file: str | None = Field(default=None, description=(
        f"Path of a YAML list of TikTok metric names ({EXTRA_METRICS_FILE_VARIABLE})."))

    def chosen(self) -> list[str]:
        """The configured metrics, checked (``spend.extra.chosen_metrics``); [] when none are configured."""
        listed = _setting_value(self.metrics, None)
        path = _setting_value(self.metrics_file, None)
        return chosen_metrics(str(listed) if listed else None, str(path) if path else None)


def extra_metrics_from_env() -> ExtraMetricsResource:
    """The extra-metrics resource, each field bound to its variable when set (the resource page names it)."""
    return ExtraMetricsResource(
        metrics=dg.EnvVar(EXTRA_METRICS_VARIABLE) if os.environ.get(EXTRA_METRICS_VARIABLE) else None,
        metrics_file=dg.EnvVar(EXTRA_METRICS_FILE_VARIABLE) if os.environ.get(EXTRA_METRICS_FILE_VARIABLE) else None,
    )


def _setting_value(setting: object, default: object) -> object:
    """A setting's value, also outside a run. Dagster resolves ``EnvVar`` fields when it builds a run's
    resources; a resource used outside a run (a script, a test) still holds the ``EnvVar`` / ``EnvVar.int``
    itself, a value holding the variable's *name*, which must never be used as the setting (a token sent as
    "TIKTOK_ACCESS_TOKEN"). An unset variable gives the default. An ``EnvVar.int`` gives the variable's text:
    the field's parser then names the variable when it is no whole number (``int()`` would not)."""
    if isinstance(setting, IntEnvVar):
        setting = dg.EnvVar(setting.env_var_name)
    if isinstance(setting, dg.EnvVar):
        value = setting.get_value()
        return default if value is None or value == "" else value
    return setting


def tiktok_api_from_env() -> TikTokApiResource:
    """Build the API resource from TIKTOK_* env vars; secrets stay EnvVar so the UI never shows them."""
    return TikTokApiResource(
        access_token=dg.EnvVar("TIKTOK_ACCESS_TOKEN") if os.environ.get("TIKTOK_ACCESS_TOKEN") else None,
        advertiser_ids=dg.EnvVar("TIKTOK_ADVERTISER_IDS") if os.environ.get("TIKTOK_ADVERTISER_IDS") else None,
        base_url=dg.EnvVar("TIKTOK_API_BASE_URL") if os.environ.get("TIKTOK_API_BASE_URL") else None,
        app_id=dg.EnvVar("TIKTOK_APP_ID") if os.environ.get("TIKTOK_APP_ID") else None,
        app_secret=dg.EnvVar("TIKTOK_APP_SECRET") if os.environ.get("TIKTOK_APP_SECRET") else None,
        qps=float(os.environ.get("TIKTOK_API_QPS", "10")),
    )


def warehouse_from_env() -> WarehouseResource:
    """The warehouse resource, each setting bound to its TIKTOK_* variable when set (the resource page then
    names the variable), else the default."""
    return WarehouseResource(
        url=dg.EnvVar("TIKTOK_WAREHOUSE_URL") if os.environ.get("TIKTOK_WAREHOUSE_URL") else None,
        settle_days=dg.EnvVar.int("TIKTOK_SETTLE_DAYS") if os.environ.get("TIKTOK_SETTLE_DAYS") else DEFAULT_SETTLE_DAYS,
        revision_alert_share=(dg.EnvVar("TIKTOK_REVISION_ALERT_SHARE") if os.environ.get("TIKTOK_REVISION_ALERT_SHARE")
                              else str(DEFAULT_REVISION_ALERT_SHARE)),
        repull_probe=dg.EnvVar("TIKTOK_REPULL_PROBE") if os.environ.get("TIKTOK_REPULL_PROBE") else "on",
        probe_verify_every_days=(dg.EnvVar.int("TIKTOK_PROBE_VERIFY_EVERY_DAYS")
                                 if os.environ.get("TIKTOK_PROBE_VERIFY_EVERY_DAYS") else DEFAULT_VERIFY_EVERY_DAYS),
    )


# PostbacksResource field -> its variable. Each set variable binds its field as an EnvVar: the resource page
# names the variable, and a run reads the value Dagster resolves from the run's environment.
POSTBACK_VARIABLES = {
    "drop_dir": "TIKTOK_EVENTS_DROP_DIR",
    "mapping_path": "TIKTOK_EVENT_MAPPING",
    "pixel_id": "TIKTOK_PIXEL_ID",
    "app_id": "TIKTOK_EVENTS_APP_ID",
    "store_app_id": "TIKTOK_EVENTS_STORE_APP_ID",
    "test_event_code": "TIKTOK_EVENTS_TEST_EVENT_CODE",
    "max_rejection_rate": "TIKTOK_POSTBACK_MAX_REJECTION_RATE",
    "max_undelivered_hours": "TIKTOK_POSTBACK_MAX_UNDELIVERED_HOURS",
    "map_workers": "TIKTOK_POSTBACK_MAP_WORKERS",
}


def postbacks_from_env() -> PostbacksResource:
    """The postbacks resource, each setting bound to its TIKTOK_* variable when set, else its default."""
    bound: dict[str, object] = {}
    for field, variable in POSTBACK_VARIABLES.items():
        if os.environ.get(variable):
            bound[field] = dg.EnvVar.int(variable) if field == "map_workers" else dg.EnvVar(variable)
    return PostbacksResource(**bound)
