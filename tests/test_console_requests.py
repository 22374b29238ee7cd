"""依申请公开 in the console: the 公开办 officer registers a request, records its steps and closes it; the due
board orders open requests by working days left; the register's own rules answer beside the form; people
without the role are refused."""

from __future__ import annotations

import re

from console_helpers import console, csrf, log_in
from sqlmodel import select

from pipeline.core.models import DisclosureRequest


def _register(client, **fields):
    data = {"received": "2026-12-01", "applicant_type": "natural_person", "channel": "online", "applicant": "王某",
            "subject": "2025年统计公报原始数据", **fields}
    return client.post("/requests/new", data={"csrf": csrf(client, "/requests"), **data})


def test_the_officer_registers_a_request_and_closes_it(env):
    client = console(env)
    log_in(client, "qianqi")
    done = _register(client)
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "已登记" in page and "王某" in page and "答复期限" in page
    request_id = int(done.headers["location"].split("/")[2].split("?")[0])
    board = client.get("/requests").text
    assert f'href="/requests/{request_id}"' in board
    closed = client.post(f"/requests/{request_id}/steps", data={
        "csrf": csrf(client, "/requests"), "kind": "closed", "on": "2026-12-04", "outcome": "disclosed"})
    assert closed.status_code == 303
    page = client.get(f"/requests/{request_id}").text
    assert "予以公开" in page and "记录办理步骤" not in page
    with env.session() as session:
        row = session.get(DisclosureRequest, request_id)
        assert (row.closed_on.isoformat(), row.outcome) == ("2026-12-04", "disclosed")


def test_the_register_refuses_beside_the_form_and_keeps_what_was_typed(env):
    client = console(env)
    log_in(client, "qianqi")
    refused = _register(client, received="2026-02-30", subject="某项目环评报告")
    assert refused.status_code == 400 and re.search(r'id="received-error">[^<]*2026-02-30', refused.text)
    assert 'value="某项目环评报告"' in refused.text
    done = _register(client)
    request_id = int(done.headers["location"].split("/")[2].split("?")[0])
    before = client.post(f"/requests/{request_id}/steps", data={
        "csrf": csrf(client, "/requests"), "kind": "closed", "on": "2026-11-20", "outcome": "disclosed"})
    assert before.status_code == 400 and "before the request" in before.text
    with env.session() as session:
        assert session.get(DisclosureRequest, request_id).closed_on is None


def test_the_due_board_puts_the_most_urgent_first(env):
    client = console(env)
    log_in(client, "qianqi")
    late = _register(client, received="2026-10-09", applicant="先收到的")
    _register(client, received="2026-12-03", applicant="后收到的")
    board = client.get("/requests").text
    assert board.index("先收到的") < board.index("后收到的")
    assert "已逾期" in board and 'class="overdue"' in board
    assert late.status_code == 303


def test_without_the_role_the_register_is_refused(env):
    client = console(env)
    log_in(client, "zhangsan")
    refused = client.get("/requests")
    assert refused.status_code == 403 and "disclosure_office" in refused.text
    forged = client.post("/requests/new", data={"csrf": csrf(client), "received": "2026-12-01",
                                                "applicant_type": "natural_person"})
    assert forged.status_code == 403
    with env.session() as session:
        assert session.exec(select(DisclosureRequest)).all() == []
