"""Serving the metrics: prometheus-client's HTTP server on a port of its own, and the gauges
read from the database at each scrape. The counters themselves are in inquiry/metrics.py,
which every part counts into; logging is in inquiry/logs.py."""
