"""Prometheus metrics of one orchestrator: cameras, the batcher, and the Triton server behind
the detector (its inference statistics and its own /metrics counters)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from orchestrator.memory import allocator, heap

if TYPE_CHECKING:
    from orchestrator.control.worker import Worker
    from orchestrator.service import Service

log = logging.getLogger(__name__)


class ServiceCollector:
    """Reads the service's state at scrape time (no counters kept twice)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        yield from self._cameras()
        yield from self._batcher()
        yield from self._triton()
        loop = self.service.loop
        if loop is not None and not loop.is_closed():
            tasks = GaugeMetricFamily("perishield_asyncio_tasks",
                                      "asyncio tasks of the service's event loop.")
            tasks.add_metric([], len(asyncio.all_tasks(loop)))
            yield tasks
        yield from self._heap()
        yield from self._outbox()

    def _outbox(self) -> Iterator[Metric]:
        """Alarms written but not yet confirmed by the broker (the relay publishes them)."""
        store = self.service.store
        if store is None:
            return
        try:
            n, oldest = store.outbox_backlog()
        except Exception as e:  # noqa: BLE001 - a store that cannot answer now: no sample
            log.debug("outbox backlog not read: %s", e)
            return
        g = GaugeMetricFamily("perishield_outbox_unpublished",
                              "Outbox messages (alarms, clip follow-ups) not yet confirmed by "
                              "RabbitMQ.")
        g.add_metric([], n)
        yield g
        age = GaugeMetricFamily("perishield_outbox_oldest_seconds",
                                "Age of the oldest unpublished outbox message (0: none).")
        age.add_metric([], 0.0 if oldest is None
                       else max(0.0, time.time() - oldest.timestamp()))
        yield age

    def _heap(self) -> Iterator[Metric]:
        h = heap()
        if h is None:
            return
        g = GaugeMetricFamily("perishield_heap_bytes", "The C heap: bytes in use, held free "
                              "(glibc: inside its arenas; jemalloc: resident, not allocated), "
                              "mapped.", labels=["kind", "allocator"])
        name = allocator()
        for kind, value in h.items():
            g.add_metric([kind, name], value)
        yield g
        trims = self.service.heap_trims
        c = CounterMetricFamily("perishield_heap_trims", "Free heap memory given back "
                                "(process.heap_trim_s).")
        c.add_metric([], trims.trims)
        yield c
        t = CounterMetricFamily("perishield_heap_trim_seconds", "Time spent trimming the heap.")
        t.add_metric([], trims.seconds)
        yield t

    def _cameras(self) -> Iterator[Metric]:
        counters = {name: CounterMetricFamily(f"perishield_camera_{name}", help_, labels=["camera"])
                    for name, help_ in (("frames_analysed", "Frames analysed."),
                                        ("frames_dropped", "Stale frames dropped (live)."),
                                        ("events", "Events recorded."),
                                        ("decode_errors", "Corrupt packets skipped."),
                                        ("detector_errors", "Frames the detector failed."),
                                        ("frames_rejected", "Frames an overloaded detector "
                                         "turned down (dropped; the camera stays live)."),
                                        ("frames_gated", "Frames analysed without the "
                                         "detector: nothing moved (skipped, or tracked "
                                         "on the last detections)."))}
        state = GaugeMetricFamily("perishield_camera_up", "1 when the camera is live.",
                                  labels=["camera", "state"])
        lag = GaugeMetricFamily("perishield_camera_lag_ms",
                                "Analysis done minus capture time, recent frames (ms).",
                                labels=["camera", "quantile"])
        restarts = CounterMetricFamily("perishield_camera_restarts",
                                       "Reconnects and restarts.", labels=["camera"])
        blind = GaugeMetricFamily("perishield_camera_blind_seconds",
                                  "Seconds since the camera last had a frame analysed (0: live).",
                                  labels=["camera"])
        for cid, st in self.service.stats.copy().items():
            for name, value in (("frames_analysed", st.frames_analysed),
                                ("frames_dropped", st.frames_dropped), ("events", st.events),
                                ("decode_errors", st.decode_errors),
                                ("detector_errors", st.detector_errors),
                                ("frames_rejected", st.frames_rejected),
                                ("frames_gated", st.frames_gated)):
                counters[name].add_metric([cid], value)
            state.add_metric([cid, st.state], 1.0 if st.state == "live" else 0.0)
            restarts.add_metric([cid], st.restarts)
            blind.add_metric([cid], st.blind_s())
            for q in (50, 99):
                ms = st.lag_ms(q)
                if ms is not None:
                    lag.add_metric([cid, f"0.{q}"], ms)
        yield from counters.values()
        yield from (state, lag, restarts, blind)

    def _batcher(self) -> Iterator[Metric]:
        b = self.service.batcher
        if b is None:
            return
        sizes = CounterMetricFamily("perishield_detector_batches",
                                    "Detector calls by batch size.", labels=["batch_size"])
        for size, count in sorted(b.batch_sizes.copy().items()):
            sizes.add_metric([str(size)], count)
        yield sizes
        frames = CounterMetricFamily("perishield_detector_frames", "Frames detected.")
        frames.add_metric([], b.frames)
        yield frames

    def _triton(self) -> Iterator[Metric]:
        stats = self.service.triton_stats
        if not stats:
            return
        for key in ("queue_ms", "compute_input_ms", "compute_infer_ms", "compute_output_ms"):
            what = key[:-3].replace("_", " ")
            g = GaugeMetricFamily(f"perishield_triton_{key}",
                                  f"Triton mean {what} time per request (ms).")
            g.add_metric([], stats[key])
            yield g
        for key in ("inference_count", "execution_count"):
            c = CounterMetricFamily(f"perishield_triton_{key}", f"Triton {key.replace('_', ' ')}.")
            c.add_metric([], stats[key])
            yield c
        execs = CounterMetricFamily("perishield_triton_executions",
                                    "Triton model executions by batch size.",
                                    labels=["batch_size"])
        for size, count in stats["batch_sizes"].items():
            execs.add_metric([str(size)], count)
        yield execs
        for name, value in stats.get("server_metrics", {}).items():
            g = GaugeMetricFamily(f"perishield_triton_{name}", f"Triton's {name} for the model.")
            g.add_metric([], value)
            yield g


class WorkerCollector:
    """A control-plane worker: its leases and the failures of its periodic tasks."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        w = self.worker
        cams = GaugeMetricFamily("perishield_worker_cameras", "Cameras leased by this worker.",
                                 labels=["state"])
        held = list(w.held.copy().values())
        invalid = sum(1 for h in held if h.invalid)
        paused = sum(1 for h in held if h.paused and not h.invalid)
        cams.add_metric(["invalid"], invalid)  # its stored parameters are refused
        cams.add_metric(["paused"], paused)
        cams.add_metric(["running"], len(held) - invalid - paused)
        yield cams
        failures = CounterMetricFamily("perishield_worker_task_failures",
                                       "Failed runs of a periodic task (each is retried).",
                                       labels=["task"])
        for task in ("heartbeat", "housekeeping", "claim", "watchdog", "status", "apply",
                     "notices"):
            failures.add_metric([task], w.failures.get(task, 0))
        yield failures
        leases = CounterMetricFamily("perishield_worker_leases",
                                     "Camera leases taken, lost (not renewed in time, or fenced "
                                     "off by a newer holder), handed off, and renewed.",
                                     labels=["event"])
        for event, n in w.lease_events.copy().items():
            leases.add_metric([event], n)
        yield leases
        lag = GaugeMetricFamily("perishield_worker_loop_lag_seconds",
                                "How late the event loop ran a timer at worst over the last "
                                "half to whole heartbeat (leases are renewed apart from it).")
        lag.add_metric([], w.loop_lag_s)
        yield lag


def registry_for(service: Service, worker: Worker | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_open_fds, …
    registry.register(ServiceCollector(service))  # type: ignore[arg-type]
    if worker is not None:
        registry.register(WorkerCollector(worker))  # type: ignore[arg-type]
    return registry


async def poll_triton(service: Service, detector: Any, metrics_url: str | None,
                      every_s: float = 5.0) -> None:
    """Refresh ``service.triton_stats`` from the detector's server until cancelled."""
    from orchestrator.triton.metrics import MetricsError, scrape  # noqa: PLC0415

    while True:
        with contextlib.suppress(Exception):
            stats = await detector.statistics()
            if metrics_url:
                try:
                    stats["server_metrics"] = await asyncio.to_thread(
                        scrape, metrics_url, detector.t.model)
                except MetricsError as e:
                    log.debug("%s", e)
            service.triton_stats = stats
        await asyncio.sleep(every_s)


async def start_metrics_server(registry: CollectorRegistry, port: int,
                               host: str = "127.0.0.1") -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        # On a thread: the collectors copy each dict the loop changes before reading it.
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
