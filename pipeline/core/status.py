"""Vocabularies the read-only commands name before any database module is imported (`gongkai list --status`,
the review levels and delivery states `gongkai show` prints): pipeline.core.models uses them for its columns."""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    SUBMITTED = "submitted"    # in review: current_level says which step is next
    REJECTED = "rejected"      # back with the author
    APPROVED = "approved"      # every level passed; 索引号 assigned; deliveries created
    WITHDRAWN = "withdrawn"    # taken down or abandoned; terminal


class DeliveryStatus(StrEnum):
    PENDING = "pending"        # due at next_attempt_at
    SENDING = "sending"        # claimed under a lease
    RETRY_WAIT = "retry_wait"  # a transient failure; due again at next_attempt_at
    PUBLISHED = "published"    # confirmed by the channel; a ledger entry exists
    DEAD = "dead"              # permanent failure; replay with gongkai retry
    UNKNOWN = "unknown"        # the channel may have it; reconcile before any resend
    CANCELLED = "cancelled"    # never sent: the item was withdrawn or superseded first
    WITHDRAWN = "withdrawn"    # was published, then taken down


class Role(StrEnum):
    """What a person may do in one agency (person_role); review levels name the role that passes them."""

    ADMIN = "admin"                           # people, roles, review levels, the calendar, act for another
    AUTHOR = "author"                         # submits items
    SECTION_HEAD = "section_head"             # 处室审核
    SECRECY_OFFICER = "secrecy_officer"       # 保密审查
    OFFICE_DIRECTOR = "office_director"       # 办公室审发
    LEGALITY_REVIEWER = "legality_reviewer"   # 合法性审核 (规范性文件)
    DISCLOSURE_OFFICE = "disclosure_office"   # 政务公开办: ledger import, figures, registers, the annual report
    OPERATOR = "operator"                     # replays dead letters (gongkai retry)
