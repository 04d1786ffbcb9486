"""Monitoring of the platform: scrape targets rendered from the cluster topology, our own
database exporter, the local Prometheus stack, and the Grafana dashboards generator."""
