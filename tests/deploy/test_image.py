"""The Docker image installs only what requirements.lock pins, every file's hash checked.

`.ci/run` checks that the lock is what `.ci/lock` writes and that it installs; these tests say
why that is enough: the Dockerfile takes nothing from elsewhere, and the lock pins (with
hashes) every runtime dependency and the build backend the image builds the project with.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# A pin: `name==version ; markers \` then its `--hash=sha256:…` lines.
_PIN = re.compile(
    r"^([A-Za-z0-9._-]+)==([^\s;\\]+)[^\n]*\n((?:\s+--hash=sha256:[0-9a-f]{64}.*\n)*)", re.M
)


def _pins() -> dict[str, tuple[list[Version], int]]:
    """Each locked package: its pinned versions (one per set of markers) and hash count."""
    pins: dict[str, tuple[list[Version], int]] = {}
    for name, version, hashes in _PIN.findall((ROOT / "requirements.lock").read_text()):
        versions, count = pins.get(canonicalize_name(name), ([], 0))
        pins[canonicalize_name(name)] = (
            [*versions, Version(version)],
            count + hashes.count("--hash="),
        )
    return pins


def _run_lines() -> list[str]:
    """The Dockerfile's RUN instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if line.startswith("RUN ")]


def test_every_pip_install_in_the_image_takes_only_the_lock_or_nothing_from_an_index() -> None:
    installs = [line for line in _run_lines() if "pip install" in line or "pip wheel" in line]
    assert installs
    for line in installs:
        from_lock = "--require-hashes" in line and "-r requirements.lock" in line
        offline = "--no-index" in line and "--no-deps" in line
        assert from_lock or offline, line


def test_the_lock_pins_every_dependency_and_the_build_backend_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [
        Requirement(text)
        for text in [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    ]
    pins = _pins()
    for requirement in wanted:
        versions, hashes = pins.get(canonicalize_name(requirement.name), ([], 0))
        assert versions, f"{requirement.name} is not in requirements.lock: run `bash .ci/lock`"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {requirement.name}=={version}, outside {requirement}:"
                " run `bash .ci/lock`"
            )
        assert hashes >= len(versions), requirement.name
    assert all(hashes for _, hashes in pins.values())
