"""What the deployment tests share: reading INQUIRY_* settings from deployment files."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

import pytest

from inquiry.config import Settings

PLACEHOLDER = "REPLACE_ME"


def unknown_settings(environment: Mapping[str, str]) -> list[str]:
    """Names the service would ignore: a typo in a deployment file is silently dropped."""
    fields = set(Settings.model_fields)
    return sorted(
        name
        for name in environment
        if not name.startswith("INQUIRY_") or name.removeprefix("INQUIRY_").lower() not in fields
    )


def with_real_secrets(environment: Mapping[str, str]) -> dict[str, str]:
    """The environment as an operator fills it in: every placeholder a fresh random value."""
    return {
        name: value.replace(PLACEHOLDER, secrets.token_hex(32))
        for name, value in environment.items()
    }


def load_settings(environment: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the service builds them from exactly this environment."""
    for name in [name for name in os.environ if name.startswith("INQUIRY_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)
