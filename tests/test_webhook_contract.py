"""The webhook contract a partner is told (README): at least once, the same webhook-id on every resend, and the
operator sees which deliveries were sent more than once (`gongkai deliveries --resent`)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from console_helpers import with_channels
from doubles.webhook import WebhookReceiver
from helpers import approve_fully, submit
from sqlmodel import select

from pipeline.core.clock import utcnow
from pipeline.core.models import Delivery, DeliveryStatus
from pipeline.engine.dispatcher import run_dispatcher
from pipeline.engine.runtime import Engine

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def test_a_resent_delivery_keeps_its_webhook_id_and_is_listed(make_env, run) -> None:
    receiver = WebhookReceiver(secrets=[SECRET]).start()
    try:
        env = with_channels(make_env, f'[channels.partner]\nkind = "webhook"\nurl = "{receiver.url}"\n'
                                      f'secret = "{SECRET}"\ntimeout = 2\n', ["portal", "partner"])
        receiver.script.append("commit-500")        # the receiver acts on it, then answers 500
        for n in range(2):
            approve_fully(env, submit(env, title=f"关于第{n}次统计执法检查的通知", channels=["portal", "partner"],
                                      id=f"w{n}"))
        engine = Engine.build(env.settings, env.engine)
        run_dispatcher(engine, until_idle=True)
        engine.clock = lambda: utcnow() + timedelta(hours=1)   # the retry is due
        run_dispatcher(engine, until_idle=True)
        with env.session() as session:
            rows = {d.item_id: d for d in session.exec(select(Delivery).where(Delivery.channel == "partner"))}
        assert [d.status for d in rows.values()] == [DeliveryStatus.PUBLISHED] * 2
        sent = [r.headers["webhook-id"] for r in receiver.server.requests if r.body and b"gongkai.check" not in r.body]
        first = rows[1].idempotency_key
        assert sent.count(first) == 2 and len(receiver.accepted) == 2     # one id, resent; acted on once

        listed = json.loads(run("deliveries --resent --json", cwd=env.directory, as_="qianqi").out)
        assert [(row["id"], row["status"]) for row in listed] == [(rows[1].id, "published")]
        assert run("deliveries --resent", cwd=env.directory, as_="qianqi").code == 0
    finally:
        receiver.stop()
