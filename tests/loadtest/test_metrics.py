"""The Prometheus endpoint, scraped in the middle of a run: the agreed names, and counters
that moved."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.loadtest.runs import ShortRun

# The contract with dashboards and alert rules (the parser drops a counter's _total).
FAMILIES = {
    "hotel_load_operation_duration_seconds": "histogram",
    "hotel_load_operations": "counter",
    "hotel_load_errors": "counter",
    "hotel_load_retries": "counter",
    "hotel_load_in_flight": "gauge",
    "hotel_load_schedule_lag_seconds": "histogram",
    "hotel_load_dropped_arrivals": "counter",
    "hotel_load_bookings": "counter",
    "hotel_load_cancellations": "counter",
    "hotel_load_revenue": "counter",
    "hotel_load_points_earned": "counter",
    "hotel_load_points_spent": "counter",
}


def test_metrics_endpoint_during_a_run(short_run: ShortRun) -> None:
    families = {f.name: f for f in text_string_to_metric_families(short_run.scrape)}
    for name, kind in FAMILIES.items():
        assert name in families, name
        assert families[name].type == kind, name
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("hotel_load_bookings_total", ())] > 0
    assert samples[("hotel_load_revenue_total", ())] > 0
    ok_bookings = (("operation", "create_booking"), ("outcome", "ok"))
    assert samples[("hotel_load_operations_total", ok_bookings)] > 0
    buckets = {
        dict(labels)["le"]
        for (name, labels) in samples
        if name == "hotel_load_operation_duration_seconds_bucket"
    }
    assert {"0.001", "0.01", "0.1", "1.0", "10.0", "+Inf"} <= buckets
    searches = (("operation", "search_availability"),)
    assert samples[("hotel_load_operation_duration_seconds_count", searches)] > 0
    assert samples[("hotel_load_schedule_lag_seconds_count", ())] > 0
