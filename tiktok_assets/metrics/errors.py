"""Errors of the metrics domain: each names what was wrong and what to do next."""

from __future__ import annotations

from collections.abc import Iterable


class MetricsError(ValueError):
    """Base class of every error raised by tiktok_assets.metrics."""


class MissingColumnsError(MetricsError):
    """An input frame lacks columns the derivation needs."""

    def __init__(self, what: str, missing: Iterable[str], hint: str = "") -> None:
        self.missing = sorted(missing)
        text = f"{what} is missing column(s) {', '.join(self.missing)}"
        super().__init__(f"{text}: {hint}" if hint else text)


class MixedCurrencyError(MetricsError):
    """Money in different currencies would have been added together."""

    def __init__(self, currencies: Iterable[str], where: str) -> None:
        self.currencies = sorted(str(currency) for currency in currencies)
        super().__init__(
            f"{where} would add up money in {len(self.currencies)} currencies ({', '.join(self.currencies)}): "
            "group by 'currency' (aggregate() does it for you) or filter to one currency first; "
            "amounts are never converted silently"
        )


class MissingZoneError(MetricsError):
    """Advertisers whose /advertiser/info/ row gives no readable time zone: their local dates are unknown."""

    def __init__(self, advertiser_ids: Iterable[str]) -> None:
        self.advertiser_ids = sorted(str(advertiser_id) for advertiser_id in advertiser_ids)
        super().__init__(
            f"advertiser(s) {', '.join(self.advertiser_ids)} have no readable time zone (advertisers.timezone nor "
            "display_timezone): their local dates cannot be known, and they are never taken as UTC; set the "
            "account's time zone in TikTok Ads Manager and re-run the advertiser snapshot"
        )


class MissingCurrencyError(MetricsError):
    """Rows without a currency cannot be summed safely with any other money."""

    def __init__(self, rows: int, where: str) -> None:
        self.rows = rows
        super().__init__(
            f"{where}: {rows} row(s) have no currency; fill 'currency' from the advertiser "
            "(advertisers.currency) before deriving metrics"
        )
