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


class MissingCurrencyError(MetricsError):
    """Rows without a currency cannot be summed safely with any other money."""

    def __init__(self, rows: int, where: str) -> None:
        self.rows = rows
        super().__init__(
            f"{where}: {rows} row(s) have no currency; fill 'currency' from the advertiser "
            "(advertisers.currency) before deriving metrics"
        )
