"""The configured channels' adapters, built once per process with the services they need."""

from __future__ import annotations

from typing import Any

from channels import REGISTRY, Channel
from pipeline.core.config import Settings
from pipeline.core.render import render_template


class ChannelSet:
    """One adapter instance per configured channel, built on first use, with the services it needs."""

    def __init__(self, settings: Settings, *, redis_client: Any = None) -> None:
        self.settings = settings
        self.redis = redis_client
        self._adapters: dict[str, Channel] = {}

    def get(self, name: str) -> Channel:
        if name not in self._adapters:
            config = self.settings.channels[name]
            kind = config.kind
            render = lambda template, context: render_template(f"{kind}/{template}", context)  # noqa: E731
            self._adapters[name] = REGISTRY[kind](name, config, render=render, redis=self.redis)
        return self._adapters[name]
