"""Triton's Prometheus metrics (:8002) read by the orchestrator."""

from __future__ import annotations

import urllib.request

# Counters Triton exports per model (microseconds and counts, cumulative).
FAMILIES = ("nv_inference_request_success", "nv_inference_request_failure",
            "nv_inference_count", "nv_inference_exec_count", "nv_inference_queue_duration_us",
            "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
            "nv_inference_compute_output_duration_us", "nv_inference_pending_request_count")


class MetricsError(RuntimeError):
    """The metrics endpoint could not be read."""


def parse(text: str, model: str) -> dict[str, float]:
    """Sum each family over the series of ``model`` in Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name not in FAMILIES:  # the parser names counter samples <family>_total
            continue
        for s in fam.samples:
            if s.labels.get("model") == model:
                out[fam.name] = out.get(fam.name, 0.0) + s.value
    return out


def scrape(url: str, model: str, timeout_s: float = 3.0) -> dict[str, float]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            text = r.read().decode()
    except OSError as e:
        raise MetricsError(f"cannot read Triton metrics at {url}: {e}") from None
    return parse(text, model)
