"""Status vocabularies the command line names before any database module is imported (`gongkai list --status`)."""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    SUBMITTED = "submitted"    # in review: current_level says which step is next
    REJECTED = "rejected"      # back with the author
    APPROVED = "approved"      # every level passed; 索引号 assigned; deliveries created
    WITHDRAWN = "withdrawn"    # taken down or abandoned; terminal
