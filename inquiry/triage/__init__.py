"""Triage: topic, priority and crisis flag for every inquiry (a pure, deterministic function)."""
