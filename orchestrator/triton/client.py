"""TritonDetector: the detector served by Triton, called over gRPC (``tritonclient.grpc.aio``).

Same contract as the embedded detector: BGR frames in, ``Detections`` in frame pixels out, with
the same letterbox before and the same score/class filter after (decoding and NMS run in the
served model). One persistent channel; every call has a deadline; when Triton is unreachable the
detector says so at once (``DetectorUnavailable``) and probes the server again with exponential
backoff, so cameras resume by themselves when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np

from orchestrator.classes import class_id
from orchestrator.config import DetectorConfig
from orchestrator.detect.base import DetectorError, DetectorUnavailable, Image
from orchestrator.detect.decode import select
from orchestrator.detect.postprocess import FrameTransform, prepare, to_frame
from orchestrator.detections import Detections
from orchestrator.triton.repository import client_contract
from orchestrator.triton.shm import InputShmPool

log = logging.getLogger(__name__)
OUTPUTS = ("boxes", "scores", "classes", "num_detections")


class TritonDetector:
    """Async detector backed by a Triton model with the ``client_contract`` tensors.

    Example:
        >>> det = TritonDetector(DetectorConfig(backend="triton"))   # doctest: +SKIP
        >>> await det.start(); await det.detect_async([frame])       # doctest: +SKIP
    """

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self.t = config.triton
        self.max_batch = config.max_batch
        self.max_inflight = self.t.max_inflight
        self._kept = np.array([class_id(c) for c in config.classes], np.int64)
        self._client: Any = None
        self.input_size: tuple[int, int] = (416, 416)
        self._shm: InputShmPool | None = None
        self._down_until = 0.0
        self._backoff = 0.0
        self.available = False
        self.bytes_sent = 0
        self.frames_sent = 0

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, and check the server, the model and its tensors. Raises ``DetectorError``."""
        import tritonclient.grpc.aio as grpcclient  # noqa: PLC0415 - optional until used

        # gRPC's own reconnect backoff grows to minutes by default; keep it near ours so a
        # restarted Triton is found again within retry_max_s.
        max_msg = 2**31 - 1
        self._client = grpcclient.InferenceServerClient(self.t.url, channel_args=[
            ("grpc.max_send_message_length", max_msg),
            ("grpc.max_receive_message_length", max_msg),
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", int(self.t.retry_max_s * 1000)),
        ])
        try:
            ready = await self._call(self._client.is_server_ready())
        except DetectorUnavailable as e:
            await self.aclose()
            raise DetectorError(f"Triton at {self.t.url} is not reachable: {e}") from None
        if not ready:
            await self.aclose()
            raise DetectorError(f"Triton at {self.t.url} is up but not ready")
        try:
            await self._check_model()
        except DetectorError:
            await self.aclose()
            raise
        if self.t.shared_memory:
            self._shm = InputShmPool(self._client, self.t.model, self.max_batch,
                                     self.input_size, self.max_inflight)
            await self._shm.register()
        self.available = True

    async def _check_model(self) -> None:
        from tritonclient.utils import InferenceServerException  # noqa: PLC0415

        name = self.t.model
        try:
            if not await self._call(self._client.is_model_ready(name)):
                raise DetectorError(f"Triton at {self.t.url} has no ready model {name!r}; "
                                    "load it or fix detector.triton.model")
            meta = await self._call(self._client.get_model_metadata(name, as_json=True))
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

    async def aclose(self) -> None:
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
        """Await a client call with the configured deadline; unreachable → DetectorUnavailable."""
        from tritonclient.utils import InferenceServerException  # noqa: PLC0415

        try:
            return await asyncio.wait_for(coro, self.t.timeout_s)
        except TimeoutError:
            raise DetectorUnavailable(f"Triton at {self.t.url}: no answer within "
                                      f"{self.t.timeout_s:g} s") from None
        except InferenceServerException as e:
            status = str(e.status() or "")
            if any(s in status for s in ("UNAVAILABLE", "DEADLINE", "CANCELLED")):
                raise DetectorUnavailable(f"Triton at {self.t.url}: {e.message()}") from None
            raise

    def _mark_down(self, reason: str) -> None:
        self._backoff = min(max(0.25, self._backoff * 2), self.t.retry_max_s)
        self._down_until = time.monotonic() + self._backoff
        if self.available:
            log.error("detector down: %s; retrying with backoff", reason)
        self.available = False

    async def _recover(self) -> None:
        """Called while down: probe the server once the backoff has passed."""
        if time.monotonic() < self._down_until:
            raise DetectorUnavailable(f"Triton at {self.t.url} is down; retry in "
                                      f"{self._down_until - time.monotonic():.1f} s")
        try:
            ready = await self._call(self._client.is_model_ready(self.t.model))
        except Exception as e:  # noqa: BLE001 - any failure keeps us down
            self._mark_down(str(e))
            raise DetectorUnavailable(str(e)) from None
        if not ready:
            self._mark_down("model not ready")
            raise DetectorUnavailable(f"Triton model {self.t.model!r} is not ready yet")
        if self._shm is not None:
            await self._shm.register()  # a restarted server forgot the regions
        log.warning("detector back: Triton at %s answers again", self.t.url)
        self.available, self._backoff = True, 0.0

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
        batch, transforms = await asyncio.to_thread(self.preprocess, frames)
        try:
            result = await self._infer(batch)
        except DetectorUnavailable as e:
            self._mark_down(str(e))
            raise
        except Exception as e:  # noqa: BLE001 - tritonclient errors become ours
            raise DetectorError(f"Triton model {self.t.model!r}: {e}") from None
        return self._to_detections(result, transforms)

    async def _infer(self, batch: np.ndarray) -> Any:
        import tritonclient.grpc.aio as grpcclient  # noqa: PLC0415

        inp = grpcclient.InferInput("images", list(batch.shape), "UINT8")
        outputs = [grpcclient.InferRequestedOutput(n) for n in OUTPUTS]
        if self._shm is None:
            inp.set_data_from_numpy(batch)
            self.bytes_sent += batch.nbytes
            self.frames_sent += len(batch)
            return await self._call(self._client.infer(
                self.t.model, [inp], outputs=outputs, client_timeout=self.t.timeout_s))
        async with self._shm.slot() as region:
            region.write(batch)
            inp.set_shared_memory(region.name, batch.nbytes)
            self.frames_sent += len(batch)
            return await self._call(self._client.infer(
                self.t.model, [inp], outputs=outputs, client_timeout=self.t.timeout_s))

    def _to_detections(self, result: Any, transforms: list[FrameTransform]) -> list[Detections]:
        boxes, scores = result.as_numpy("boxes"), result.as_numpy("scores")
        classes, num = result.as_numpy("classes").astype(np.int64), result.as_numpy(
            "num_detections")
        out = []
        for i, t in enumerate(transforms):
            n = int(num[i, 0])
            b, s, c = boxes[i, :n], scores[i, :n], classes[i, :n]
            keep = select(b, s, c, self.config.score_threshold, 1.0, self._kept)
            out.append(to_frame(b[keep], s[keep], c[keep], t))
        return out

    async def statistics(self) -> dict[str, Any]:
        """Triton's inference statistics of the model: queue and compute time, batch sizes."""
        stats = await self._call(self._client.get_inference_statistics(self.t.model,
                                                                       as_json=True))
        return summarise_statistics(stats)


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
