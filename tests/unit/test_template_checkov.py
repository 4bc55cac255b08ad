"""The checkov configuration: it scans the template offline, every skipped check says why, and `make test` runs
it with the configuration.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from support.template import (
    ROOT,
)

CHECKOV_CONFIG = ROOT / ".checkov.yaml"


def checkov_config() -> dict[str, Any]:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def test_checkov_scans_the_template_offline() -> None:
    config = checkov_config()
    assert config["file"] == ["template.yaml"]
    assert config["framework"] == ["cloudformation"]
    assert config["skip-download"] is True
    assert not config.get("soft-fail") and not config.get("soft-fail-on"), "failed checks must fail the build"
    assert not {"check", "skip-framework", "skip-path", "external-checks-dir"} & set(config)


def test_every_skipped_check_has_a_reason() -> None:
    skipped = checkov_config()["skip-check"]
    assert skipped and len(skipped) == len(set(skipped))
    lines = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\s*-\s*(\S+)\s*#\s*(.*?)\s*$", CHECKOV_CONFIG.read_text(encoding="utf-8"), re.M)
    }
    for check in skipped:
        assert re.fullmatch(r"CKV_AWS_\d+", check), f"{check}: skip single checks by id, not patterns or severities"
        assert check in lines, f"{check}: no reason on its line"
        assert len(lines[check].split()) >= 8, f"{check}: the reason is too short to say why: {lines[check]!r}"


def test_make_test_runs_checkov_with_the_config() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = re.search(r"^test:(.*)$", makefile, re.M)
    assert test_target and "security" in test_target.group(1).split()
    security = re.search(r"^security:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert security and "checkov --config-file .checkov.yaml" in security.group(1)
    pins = (ROOT / "requirements-checkov.txt").read_text(encoding="utf-8")
    assert re.search(r"^checkov==\d+\.\d+\.\d+$", pins, re.M), "checkov is pinned"
