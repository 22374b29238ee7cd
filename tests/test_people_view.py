"""show_person: a person as `gongkai whoami` and `gongkai user show` print them."""

from __future__ import annotations

import pytest

from pipeline.core.errors import NotFound
from pipeline.records.people import show_person


def test_a_person_is_shown_with_roles_per_agency_and_an_unknown_login_is_named(env):
    with env.session() as session:
        shown = show_person(session, login="lisi")
        with pytest.raises(NotFound, match="no user 'nobody'"):
            show_person(session, login="nobody")
    assert (shown["login"], shown["agency"], shown["active"], shown["can_log_in"]) == ("lisi", "tjj", True, True)
    assert shown["roles"] == {"tjj": ["section_head"]}
