"""The one place where item and delivery states change, with the table of allowed moves."""

from __future__ import annotations

from pipeline.core.errors import WorkflowRefused
from pipeline.core.models import Delivery, Item, ItemStatus, utcnow
from pipeline.core.models import DeliveryStatus as D

# (state, action) -> new state. Anything not listed is refused.
ITEM_MOVES: dict[tuple[ItemStatus, str], ItemStatus] = {
    (ItemStatus.SUBMITTED, "pass"): ItemStatus.SUBMITTED,       # a review level passed, more to go
    (ItemStatus.SUBMITTED, "approve"): ItemStatus.APPROVED,     # the last level passed
    (ItemStatus.SUBMITTED, "reject"): ItemStatus.REJECTED,
    (ItemStatus.SUBMITTED, "revise"): ItemStatus.SUBMITTED,     # the author edits during review: review restarts
    (ItemStatus.REJECTED, "revise"): ItemStatus.SUBMITTED,
    (ItemStatus.APPROVED, "revise"): ItemStatus.SUBMITTED,      # an edit after approval is reviewed again
    (ItemStatus.SUBMITTED, "withdraw"): ItemStatus.WITHDRAWN,
    (ItemStatus.REJECTED, "withdraw"): ItemStatus.WITHDRAWN,
    (ItemStatus.APPROVED, "withdraw"): ItemStatus.WITHDRAWN,
}

WHY_NOT = {
    ItemStatus.REJECTED: "it was rejected and is back with its author, who may revise and resubmit it",
    ItemStatus.APPROVED: "it is approved; an edit is a new revision that is reviewed again",
    ItemStatus.WITHDRAWN: "it was withdrawn",
    ItemStatus.SUBMITTED: "it is in review",
}

# Delivery moves: from -> the states it may go to. PUBLISHED and CANCELLED are never overwritten
# except by a withdrawal of a publication; DEAD leaves only by an explicit replay; UNKNOWN (in doubt) by a
# replay or by the claim of a lookup that the sweep makes when its next_attempt_at has come (docs/engine.md).
DELIVERY_MOVES: dict[D, frozenset[D]] = {
    D.PENDING: frozenset({D.SENDING, D.CANCELLED}),
    D.SENDING: frozenset({D.PUBLISHED, D.RETRY_WAIT, D.DEAD, D.UNKNOWN, D.CANCELLED}),
    D.RETRY_WAIT: frozenset({D.SENDING, D.CANCELLED}),
    D.UNKNOWN: frozenset({D.PENDING, D.SENDING}),      # a replay, or the sweep's lookup: the channel is asked first
    D.DEAD: frozenset({D.PENDING, D.CANCELLED}),
    D.PUBLISHED: frozenset({D.WITHDRAWN}),
    D.CANCELLED: frozenset(),
    D.WITHDRAWN: frozenset(),
}


def move_item(item: Item, action: str) -> ItemStatus:
    """Apply `action` to the item's status, or refuse naming the state it is in."""
    new = ITEM_MOVES.get((item.status, action))
    if new is None:
        raise WorkflowRefused(f"item {item.id} cannot be {_past(action)}: {WHY_NOT[item.status]}")
    item.status = new
    item.updated_at = utcnow()
    return new


def may_move_delivery(old: D, new: D) -> bool:
    return new in DELIVERY_MOVES[old]


def move_delivery(delivery: Delivery, new: D) -> None:
    """Apply a delivery state change allowed by DELIVERY_MOVES; anything else is a bug, not a user error."""
    if not may_move_delivery(delivery.status, new):
        raise RuntimeError(f"delivery {delivery.id}: {delivery.status} -> {new} is not an allowed move")
    delivery.status = new
    delivery.updated_at = utcnow()


def _past(action: str) -> str:
    return {"pass": "reviewed", "approve": "approved", "reject": "rejected", "revise": "revised",
            "withdraw": "withdrawn"}[action]
