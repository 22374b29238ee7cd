"""What an operator looks at: deliveries waiting or failed, paused channels and each channel's health, and
publications by verification (`gongkai deliveries` and the console's 运维 page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from pipeline.core.agencies import agency_row
from pipeline.engine.verify import Verification, differing, verification_counts
from pipeline.items import views
from pipeline.items.views import ChannelHealth


@dataclass(frozen=True)
class DeliveryOverview:
    rows: list[dict[str, Any]]       # deliveries: unpublished, only failed, or sent more than once
    paused: dict[str, str]           # channel -> why it is paused
    health: list[ChannelHealth]
    checked: dict[str, int]          # publications by verification result
    differing: list[Verification]    # live copies that differ from their approved revision


def delivery_overview(session: Session, *, agency_code: str, failed_only: bool = False,
                      resent: bool = False) -> DeliveryOverview:
    """The agency's deliveries not yet published (`failed_only`: the dead letters and unknown outcomes; `resent`:
    those sent more than once, whatever their state), with the state of channels and publications."""
    agency_id = agency_row(session, agency_code).id
    rows = views.list_resent(session, agency_id=agency_id) if resent else \
        views.list_deliveries(session, agency_id=agency_id, failed_only=failed_only)
    return DeliveryOverview(rows=rows, paused=views.paused_channels(session),
                            health=views.channel_health(session, agency_id=agency_id),
                            checked=verification_counts(session, agency_id=agency_id),
                            differing=differing(session, agency_id=agency_id))
