"""Monitoring of the platform: our exporters, the Prometheus targets, the Grafana dashboards
generator, with the data they serve beside them (rules/, prometheus/, grafana/)."""
