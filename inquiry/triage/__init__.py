"""Triage: topic, priority and crisis flag for every inquiry (a pure, deterministic function)."""

from inquiry.triage.classify import TriageResult, reason_categories, triage
from inquiry.triage.rules import (
    Rules,
    RulesError,
    default_rules,
    last_reload_error,
    load_rules,
    reload_rules,
    use_rules,
)
from inquiry.triage.taxonomy import Priority, Topic

__all__ = [
    "Priority",
    "Rules",
    "RulesError",
    "Topic",
    "TriageResult",
    "default_rules",
    "last_reload_error",
    "load_rules",
    "reason_categories",
    "reload_rules",
    "triage",
    "use_rules",
]
