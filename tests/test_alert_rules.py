"""deploy/prometheus and deploy/grafana: the rules are valid and fire when they should, and every
metric they and the dashboard use is one the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.core import Metric

from inquiry.metrics import Metrics
from inquiry.observability.gauges import described

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "inquiry-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "inquiry-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "inquiry-dashboard.json"
PROMTOOL = shutil.which("promtool")
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = frozenset({"up"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on"})
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "info": ("_info",),
}
# The alerts the service's operators were promised.
EXPECTED_ALERTS = {
    "InquiryDeadMessage",
    "InquiryMailBacklog",
    "InquiryUrgentCallbackOverdue",
    "InquiryNoneAccepted",
    "InquiryNotReady",
}


def exported_series() -> set[str]:
    """Every series name the service's processes export, from their collectors' descriptions
    (the database gauges are described, not read)."""
    families: list[Metric] = [*Metrics().registry.collect(), *described()]
    return {family.name + suffix for family in families for suffix in _SUFFIXES[family.type]}


def metric_names(expr: str) -> set[str]:
    """The series a PromQL expression reads: its identifiers, less functions, keywords,
    label matchers, label lists and ranges."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group() in _KEYWORDS:
            continue  # a function, or an operator
        names.add(match.group())
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


class TestAlertRules:
    @pytest.mark.skipif(PROMTOOL is None, reason="promtool: apt-get install prometheus")
    def test_promtool_accepts_the_rules(self) -> None:
        assert PROMTOOL is not None
        done = subprocess.run(
            [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    @pytest.mark.skipif(PROMTOOL is None, reason="promtool: apt-get install prometheus")
    def test_each_alert_fires_when_it_should_and_not_before(self) -> None:
        assert PROMTOOL is not None
        done = subprocess.run(
            [PROMTOOL, "test", "rules", RULE_TESTS.name],
            cwd=RULE_TESTS.parent,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def test_every_rule_is_an_alert_with_a_severity_and_a_summary(self) -> None:
        """The schema promtool checks, for machines without it."""
        document = yaml.safe_load(RULES.read_text())
        assert set(document) == {"groups"}
        for group in document["groups"]:
            assert set(group) <= {"name", "interval", "rules"}
            assert group["name"]
        found = set()
        for rule in rules():
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert isinstance(rule["expr"], str)
            assert rule["expr"].count("(") == rule["expr"].count(")")
            assert re.fullmatch(r"(\d+[smhd])+", rule.get("for", "0s")), rule
            assert rule["labels"]["severity"] in {"critical", "warning"}
            assert rule["annotations"]["summary"]
            found.add(rule["alert"])
        assert EXPECTED_ALERTS <= found

    def test_every_metric_the_rules_use_is_exported(self) -> None:
        exported = exported_series() | PROMETHEUS_OWN
        used = {name for rule in rules() for name in metric_names(rule["expr"])}
        assert used, "no metric found in the rules"
        assert used <= exported, sorted(used - exported)


class TestDashboard:
    def test_every_metric_the_dashboard_uses_is_exported(self) -> None:
        exported = exported_series()
        used = {name for expr in dashboard_exprs() for name in metric_names(expr)}
        assert used <= exported, sorted(used - exported)

    def test_it_shows_every_metric_of_the_service(self) -> None:
        used = {name for expr in dashboard_exprs() for name in metric_names(expr)}
        ours = {name for name in exported_series() if name.startswith("inquiry_")}
        families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in ours}
        shown = {re.sub(r"_(bucket|count|sum)$", "", name) for name in used}
        assert families <= shown, sorted(families - shown)

    def test_panels_ask_the_chosen_prometheus(self) -> None:
        document = json.loads(DASHBOARD.read_text())
        assert document["uid"] == "inquiry-service"
        for panel in document["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


class TestMetricNames:
    def test_names_are_read_from_expressions(self) -> None:
        expr = (
            'histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{job=~"a|b"}[5m])))'
            " and on() day_of_week() >= 2 or max without (instance) (y_total) > 3 * 60"
        )
        assert metric_names(expr) == {"x_bucket", "y_total"}
