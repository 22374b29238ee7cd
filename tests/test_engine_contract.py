"""What the delivery engine relies on is declared: every channel capability on Channel, every attempt outcome in
AttemptOutcome (docs/group-commit.md)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from doubles.scripted import HAS_IT, LOST_ANSWER, OK, PERMANENT, THROTTLED, TRANSIENT, Scripted
from test_delivery import approved, attempts, delivery_of  # noqa: F401  (fixtures below)
from test_delivery import env as env  # noqa: F401  (the engine's fixtures)

import channels
from channels import REGISTRY, Channel
from pipeline.core.models import AttemptOutcome
from pipeline.engine.delivery import deliver_one
from pipeline.engine.runtime import Engine

ROOT = Path(__file__).resolve().parent.parent


def capabilities(adapter: type[Channel]) -> set[str]:
    """The class data an adapter and its bases below Channel set: its capabilities (methods, its kind and its Config
    aside)."""
    below = adapter.__mro__[:adapter.__mro__.index(Channel)]
    return {name for cls in below for name, value in vars(cls).items()
            if not name.startswith("_") and name not in ("kind", "Config")
            and not callable(value) and not isinstance(value, (property, classmethod, staticmethod))}


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_every_capability_a_channel_sets_is_declared_on_channel(kind):
    declared = set(inspect.get_annotations(Channel))
    assert capabilities(REGISTRY[kind]) <= declared, f"{kind}: declare them on channels.base.Channel"


def test_the_engine_reads_no_capability_of_an_adapter_with_getattr():
    """A capability read with getattr(..., default) escapes the contract; it must be declared and read plainly."""
    found = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in (ROOT / "pipeline").rglob("*.py")
             for line in path.read_text(encoding="utf-8").splitlines()
             if re.search(r"getattr\((adapter|channel|REGISTRY\[)", line)]
    assert found == []


@pytest.mark.parametrize("answer", [OK, TRANSIENT, PERMANENT, LOST_ANSWER, THROTTLED, HAS_IT])
def test_every_attempt_outcome_the_engine_writes_is_an_attempt_outcome(env, answer):  # noqa: F811
    Scripted.reset(answer)
    engine = Engine.build(env.settings, env.engine)
    delivery = delivery_of(env, approved(env))
    deliver_one(engine, delivery.id)
    written = attempts(env, delivery.id)
    assert written and all(outcome in set(AttemptOutcome) for outcome in written), written


def test_a_webhook_may_be_sent_again_and_a_static_site_has_index_pages_as_declared():
    assert Channel.resend_is_idempotent is False and Channel.index_templates == ()
    assert channels.Webhook.resend_is_idempotent and REGISTRY["portal"].index_templates
