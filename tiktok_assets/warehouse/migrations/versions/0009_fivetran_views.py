"""Fivetran-shaped views (issue 17, deliverable 8): ``fivetran_advertiser``, ``fivetran_campaign_history``, ...

No table changes. The views hold no data and are not frozen here: ``create_schema`` rebuilds them after every
migration from ``tiktok_assets/warehouse/fivetran.py`` (and on SQLite drops them before: a batch migration renames
tables, which SQLite refuses while a view names the dropped one). This revision is what makes a warehouse at 0004
migrate, so it gets them; a later change of the views ships with a revision of its own for the same reason.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing on the tables: ``create_schema`` builds the views once every revision has run."""


def downgrade() -> None:
    """Nothing on the tables; the views go with ``DROP VIEW fivetran_<table>`` (``fivetran.drop_views``)."""
