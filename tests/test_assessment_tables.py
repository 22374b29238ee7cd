"""department_tables: the assessment table (gongkai assessment) of several agencies in one call."""

from __future__ import annotations

from datetime import date

from report_helpers import beijing, publish

from pipeline.records.assessment import department_tables

OTHER_AGENCY = '\n[agencies.fgw]\nname = "台州市发展和改革委员会"\norg_code = "002668001"\nchannels = ["portal"]\n'


def test_each_agency_s_departments_in_the_order_asked(make_env):
    env = make_env(OTHER_AGENCY)
    publish(env, beijing(2026, 3, 2, 10), kind="news", category="政务动态")  # by zhangsan of 综合处, in tjj
    with env.session() as session:
        both = department_tables(session, settings=env.settings, codes=["fgw", "tjj"], year=2026,
                                 today=date(2026, 12, 1))
        other = department_tables(session, settings=env.settings, codes=["fgw"], year=2026, today=date(2026, 12, 1))
        before = department_tables(session, settings=env.settings, codes=["tjj"], year=2025, today=date(2026, 12, 1))
    assert [(r.agency, r.department, r.published, r.withdrawn) for r in both] == [("tjj", "综合处", 1, 0)]
    assert other == [] and before == []
