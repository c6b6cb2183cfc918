"""TritonDetector: the detector served by Triton, called over gRPC (``tritonclient.grpc.aio``).

Same contract as the embedded detector: BGR frames in, ``Detections`` in frame pixels out, with
the same letterbox before and the same score/class filter after (decoding and NMS run in the
served model). One persistent channel; every call has a deadline. Overload is not an outage: a
request Triton turns down (its queue is full, or the request waited past the model's queue
timeout) or one that misses its deadline drops those frames only (``FrameRejected``, counted);
when Triton is unreachable (the connection is lost, or requests keep missing their deadline)
the detector says so at once (``DetectorUnavailable``) and probes the server again with
exponential backoff, so cameras resume by themselves when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from orchestrator.classes import class_id
from orchestrator.config import DetectorConfig
from orchestrator.detect.base import DetectorError, DetectorUnavailable, FrameRejected, Image
from orchestrator.detect.graph import OUTPUTS, check_limits
from orchestrator.detect.postprocess import FrameTransform, prepare, unpack
from orchestrator.detections import Detections
from orchestrator.triton.repository import client_contract
from orchestrator.triton.shm import InputShmPool, ShmRegion

T = TypeVar("T")
log = logging.getLogger(__name__)
# Triton's own words for a request it turned down under load ("[request id: …] Exceeds maximum
# queue size"; a queue policy with REJECT: "Request timeout expired"); any other UNAVAILABLE
# is the server or the connection going away.
_REJECTED = ("exceeds maximum queue size", "request timeout expired")
# Requests in flight when detector.triton.max_inflight is not set: on GPUs, throughput ×
# latency ÷ batch (5,000 frames/s × 25 ms ÷ 8 ≈ 16); on CPUs more in flight only queue.
GPU_INFLIGHT, CPU_INFLIGHT = 16, 4
LATE_BEFORE_DOWN = 3  # requests in a row past their deadline: the server is not answering
_RESTRICTED = ("a server with --grpc-restricted-protocol wants detector.triton.admin_header "
               "(name=value of that flag)")


class TritonDetector:
    """Async detector backed by a Triton model with the ``client_contract`` tensors.

    Example:
        >>> det = TritonDetector(DetectorConfig(backend="triton"))   # doctest: +SKIP
        >>> await det.start(); await det.detect_async([frame])       # doctest: +SKIP
    """

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self.t = config.triton
        if len(self.t.servers) != 1:
            raise DetectorError("TritonDetector talks to one server; several: TritonPool")
        self.url = self.t.servers[0]
        self.max_batch = config.max_batch
        self.max_inflight = self.t.max_inflight or CPU_INFLIGHT  # GPU_INFLIGHT: see start()
        self._kept = np.array([class_id(c) for c in config.classes], np.int64)
        self._client: Any = None
        self.input_size: tuple[int, int] = (416, 416)
        self._shm: InputShmPool | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._down_until = 0.0
        self._backoff = 0.0
        self.available = False
        self.bytes_sent = 0
        self.frames_sent = 0
        self.rejected: dict[str, int] = {"queue": 0, "late": 0}  # frames dropped, by cause
        self._late = 0  # requests in a row that missed their deadline
        self._recovering = asyncio.Lock()
        self._stats_model = config.triton.model
        name, _, value = (self.t.admin_header or "").partition("=")
        # Triton matches gRPC metadata "triton-grpc-protocol-<name>" against the flag's name.
        self.headers: dict[str, str] | None = (
            {f"triton-grpc-protocol-{name}": value} if name else None)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, and check the server, the model and its tensors. Raises ``DetectorError``."""
        import tritonclient.grpc.aio as grpcclient  # noqa: PLC0415 - optional until used

        # gRPC's own reconnect backoff grows to minutes by default; keep it near ours so a
        # restarted Triton is found again within retry_max_s.
        # Passing channel_args replaces tritonclient's defaults (keepalive included): all here.
        max_msg = 2**31 - 1
        args: list[tuple[str, int]] = [
            ("grpc.max_send_message_length", max_msg),
            ("grpc.max_receive_message_length", max_msg),
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", int(self.t.retry_max_s * 1000)),
        ]
        if self.t.keepalive_s > 0:
            args += [("grpc.keepalive_time_ms", int(self.t.keepalive_s * 1000)),
                     ("grpc.keepalive_timeout_ms", 5000),
                     ("grpc.keepalive_permit_without_calls", 1),
                     ("grpc.http2.max_pings_without_data", 0)]
        self._client = grpcclient.InferenceServerClient(self.url, channel_args=args)
        try:
            ready = await self._probe(self._client.is_server_ready())
        except DetectorUnavailable as e:
            await self.aclose()
            raise DetectorError(f"Triton at {self.url} is not reachable: {e}") from None
        if not ready:
            await self.aclose()
            raise DetectorError(f"Triton at {self.url} is up but not ready")
        try:
            await self._check_model()
        except DetectorError:
            await self.aclose()
            raise
        if self.t.shared_memory:
            self._shm = InputShmPool(self._client, self.t.model, self.max_batch,
                                     self.input_size, self.max_inflight, self.headers)
            try:
                await self._shm.register()
            except Exception as e:  # noqa: BLE001 - the client's errors become ours
                await self.aclose()
                raise DetectorError(f"Triton at {self.url}: shared memory cannot be registered: "
                                    f"{e} ({_RESTRICTED})") from None
        self.available = True

    async def _check_model(self) -> None:
        from tritonclient.utils import InferenceServerException  # noqa: PLC0415

        name = self.t.model
        try:
            if not await self._probe(self._client.is_model_ready(name)):
                raise DetectorError(f"Triton at {self.url} has no ready model {name!r}; "
                                    "load it or fix detector.triton.model")
            meta = await self._probe(self._client.get_model_metadata(name, as_json=True))
        except InferenceServerException as e:
            raise DetectorError(f"Triton model {name!r}: {e.message()}") from None
        inputs = {i["name"]: (i["datatype"], [int(d) for d in i["shape"]]) for i in
                  meta["inputs"]}
        outputs = {o["name"]: (o["datatype"], [int(d) for d in o["shape"]]) for o in
                   meta["outputs"]}
        image = inputs.get("images")
        if image is None or len(image[1]) != 4 or image[1][3] != 3 or image[0] != "UINT8":
            raise DetectorError(f"Triton model {name!r}: expected input 'images' UINT8 "
                                f"[-1, H, W, 3], got {inputs}")
        self.input_size = (image[1][2], image[1][1])
        want_in, want_out = client_contract(self.input_size)
        for spec in want_out:
            got = outputs.get(spec.name)
            if got is None or got[0] != spec.dtype or tuple(got[1][1:]) != spec.dims:
                raise DetectorError(f"Triton model {name!r}: expected output {spec.name!r} "
                                    f"{spec.dtype} {[-1, *spec.dims]}, got {got}")
        del want_in
        try:
            await self._check_limits(name)
        except InferenceServerException as e:
            raise DetectorError(f"Triton model {name!r}: its configuration cannot be read: "
                                f"{e.message()} ({_RESTRICTED})") from None

    async def _check_limits(self, name: str) -> None:
        """The served model's own limits, read from its configuration (and, for an ensemble,
        its steps'): a larger ``max_batch`` is lowered to the model's (every request would
        fail); a ``score_threshold`` below the score the model keeps, another ``nms_iou`` than
        the one it applies, or a class it does not return cannot be honoured and is refused."""
        cfg = (await self._probe(self._client.get_model_config(name, headers=self.headers,
                                                                  as_json=True)))["config"]
        limit = int(cfg.get("max_batch_size", 0))
        if limit and self.max_batch > limit:
            log.warning("detector.max_batch %d is above Triton model %r's max_batch_size %d: "
                        "batches of %d are sent", self.max_batch, name, limit, limit)
            self.max_batch = limit
        params = _parameters(cfg)
        steps = cfg.get("ensemble_scheduling", {}).get("step", [])
        # An ensemble's statistics record the client's requests; the batches the detector
        # really ran are its first step's.
        self._stats_model = steps[0]["model_name"] if steps else name
        kinds = {g.get("kind", "KIND_GPU") for g in cfg.get("instance_group", [])}
        for step in steps:
            sub = (await self._probe(self._client.get_model_config(
                step["model_name"], headers=self.headers, as_json=True)))["config"]
            params.update(_parameters(sub))
            kinds |= {g.get("kind", "KIND_GPU") for g in sub.get("instance_group", [])}
        if self.t.max_inflight is None and "KIND_GPU" in kinds:
            self.max_inflight = GPU_INFLIGHT
        check_limits(self.config, params, f"Triton model {name!r} (its config.pbtxt)")

    async def aclose(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None
        if self._shm is not None:
            await self._shm.release()
            self._shm = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    def close(self) -> None:
        """Sync close for callers outside the loop (the client closes with the loop)."""

    # -- inference ----------------------------------------------------------------------------

    async def _call(self, coro: Any) -> Any:
        """Await a client call with the configured deadline; unreachable → DetectorUnavailable,
        turned down under load → FrameRejected, past the deadline → ``TimeoutError``."""
        from tritonclient.utils import InferenceServerException  # noqa: PLC0415

        try:
            return await asyncio.wait_for(coro, self.t.timeout_s)
        except InferenceServerException as e:
            status, message = str(e.status() or ""), str(e.message() or "")
            if "UNAVAILABLE" in status and any(r in message.lower() for r in _REJECTED):
                raise FrameRejected(f"Triton at {self.url} turned the request down: "
                                    f"{message}") from None
            if "DEADLINE" in status:
                raise TimeoutError(message) from None
            if "protocol is restricted" in message:
                raise DetectorError(f"Triton at {self.url}: {message} ({_RESTRICTED})") from None
            if any(s in status for s in ("UNAVAILABLE", "CANCELLED")):
                raise DetectorUnavailable(f"Triton at {self.url}: {message}") from None
            raise

    async def _probe(self, coro: Any) -> Any:
        """A control call (readiness, metadata): no answer in time means unreachable."""
        try:
            return await self._call(coro)
        except TimeoutError:
            raise DetectorUnavailable(f"Triton at {self.url}: no answer within "
                                      f"{self.t.timeout_s:g} s") from None

    def _mark_down(self, reason: str) -> None:
        self._backoff = min(max(0.25, self._backoff * 2), self.t.retry_max_s)
        self._down_until = time.monotonic() + self._backoff
        if self.available:
            log.error("detector down: %s; retrying with backoff", reason)
        self.available = False

    async def _recover(self) -> None:
        """Called while down: probe the server once the backoff has passed. One caller probes
        (and re-registers shared memory) at a time; the others wait for its verdict."""
        async with self._recovering:
            if self.available:  # another request brought it back while this one waited
                return
            if time.monotonic() < self._down_until:
                raise DetectorUnavailable(f"Triton at {self.url} is down; retry in "
                                          f"{self._down_until - time.monotonic():.1f} s")
            try:
                ready = await self._probe(self._client.is_model_ready(self.t.model))
                if not ready:
                    raise DetectorUnavailable(f"Triton model {self.t.model!r} is not ready yet")
                if self._shm is not None:
                    await self._shm.register()  # a restarted server forgot the regions
            except Exception as e:  # noqa: BLE001 - any failure keeps us down
                self._mark_down(str(e))
                raise DetectorUnavailable(f"Triton at {self.url}: {e}") from None
            log.warning("detector back: Triton at %s answers again", self.url)
            self.available, self._backoff, self._late = True, 0.0, 0

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the detector's own threads (one per request in flight), not on
        asyncio's shared pool, where snapshots, inserts and clip fetches queue."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.max_inflight,
                                               thread_name_prefix="triton-prep")
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def preprocess(self, frames: list[Image]) -> tuple[np.ndarray, list[FrameTransform]]:
        pairs = [prepare(f, self.input_size) for f in frames]
        return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]

    async def detect_async(self, frames: list[Image]) -> list[Detections]:
        if not frames:
            return []
        if self._client is None:
            raise DetectorError("TritonDetector used before start()")
        if not self.available:
            await self._recover()
        try:
            if self._shm is None:
                batch, transforms = await self._off_loop(self.preprocess, frames)
                result = await self._infer(batch)
            else:  # the worker thread letterboxes straight into the request's region
                async with self._shm.slot() as region:
                    transforms = await self._off_loop(self._fill, region, frames)
                    result = await self._infer_shm(region, len(frames))
        except FrameRejected:
            self.rejected["queue"] += len(frames)
            raise
        except TimeoutError:
            self._late += 1
            if self._late >= LATE_BEFORE_DOWN:  # not busy: not answering
                reason = (f"Triton at {self.url}: {self._late} requests in a row got no "
                          f"answer within {self.t.timeout_s:g} s")
                self._mark_down(reason)
                raise DetectorUnavailable(reason) from None
            self.rejected["late"] += len(frames)
            raise FrameRejected(f"Triton at {self.url}: no answer within "
                                f"{self.t.timeout_s:g} s; these frames are dropped") from None
        except DetectorUnavailable as e:
            self._mark_down(str(e))
            raise
        except Exception as e:  # noqa: BLE001 - tritonclient errors become ours
            raise DetectorError(f"Triton model {self.t.model!r}: {e}") from None
        self._late = 0
        return self._to_detections(result, transforms)

    def _fill(self, region: ShmRegion, frames: list[Image]) -> list[FrameTransform]:
        """The model inputs of ``frames`` written into ``region`` (in a worker thread)."""
        view = region.frames(len(frames), self.input_size)
        transforms = []
        for i, f in enumerate(frames):
            view[i], t = prepare(f, self.input_size)
            transforms.append(t)
        return transforms

    async def _infer(self, batch: np.ndarray) -> Any:
        import tritonclient.grpc.aio as grpcclient  # noqa: PLC0415

        inp = grpcclient.InferInput("images", list(batch.shape), "UINT8")
        inp.set_data_from_numpy(batch)
        self.bytes_sent += batch.nbytes
        self.frames_sent += len(batch)
        return await self._request(inp)

    async def _infer_shm(self, region: ShmRegion, n: int) -> Any:
        import tritonclient.grpc.aio as grpcclient  # noqa: PLC0415

        w, h = self.input_size
        inp = grpcclient.InferInput("images", [n, h, w, 3], "UINT8")
        inp.set_shared_memory(region.name, n * h * w * 3)
        self.frames_sent += n
        return await self._request(inp)

    async def _request(self, inp: Any) -> Any:
        import tritonclient.grpc.aio as grpcclient  # noqa: PLC0415

        outputs = [grpcclient.InferRequestedOutput(n) for n in OUTPUTS]
        return await self._call(self._client.infer(
            self.t.model, [inp], outputs=outputs, client_timeout=self.t.timeout_s))

    def _to_detections(self, result: Any, transforms: list[FrameTransform]) -> list[Detections]:
        return unpack([result.as_numpy(n) for n in OUTPUTS], transforms,
                      self.config.score_threshold, self._kept)

    async def statistics(self) -> dict[str, Any]:
        """Triton's inference statistics of the model (of an ensemble, its detector step):
        queue and compute time, batch sizes."""
        stats = await self._probe(self._client.get_inference_statistics(
            self._stats_model, headers=self.headers, as_json=True))
        return summarise_statistics(stats)


def _parameters(cfg: dict[str, Any]) -> dict[str, str]:
    """A model configuration's ``parameters`` (as Triton's JSON gives them) as plain strings."""
    return {k: str(v.get("string_value", "")) for k, v in cfg.get("parameters", {}).items()}


def summarise_statistics(stats: dict[str, Any]) -> dict[str, Any]:
    """Flatten Triton's statistics JSON into counts, mean times (ms) and the batch histogram."""
    ms = stats.get("model_stats", [{}])[0]
    inf = ms.get("inference_stats", {})

    def mean_ms(key: str) -> float:
        part = inf.get(key, {})
        n = int(part.get("count", 0))
        return int(part.get("ns", 0)) / n / 1e6 if n else 0.0

    batches = {int(b["batch_size"]): int(b.get("compute_infer", {}).get("count", 0))
               for b in ms.get("batch_stats", [])}
    return {"inference_count": int(ms.get("inference_count", 0)),
            "execution_count": int(ms.get("execution_count", 0)),
            "queue_ms": mean_ms("queue"), "compute_input_ms": mean_ms("compute_input"),
            "compute_infer_ms": mean_ms("compute_infer"),
            "compute_output_ms": mean_ms("compute_output"),
            "batch_sizes": dict(sorted(batches.items()))}
