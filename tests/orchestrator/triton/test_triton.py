"""Against a real tritonserver (nvidia-pytriton's bundled binary, Python backend, CPU)."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import DetectorConfig, Settings, TritonConfig, load_settings
from orchestrator.detect import (
    DetectorError,
    DetectorUnavailable,
    FrameRejected,
    create_detector,
    open_detector,
)
from orchestrator.metrics import registry_for
from orchestrator.service import Service
from orchestrator.triton.server import TritonServer, free_port
from tests.conftest import EXAMPLE

pytestmark = pytest.mark.triton
MODELS = ("yolox_nano_cpu",)
NOT_A_DETECTOR = Path(__file__).with_name("not_a_detector")


def new_server(tmp: Path, **kw: object) -> TritonServer:
    kw = {"models": MODELS, **kw}
    return TritonServer(grpc_port=free_port(), http_port=free_port(), metrics_port=free_port(),
                        work_dir=tmp, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    tmp = tmp_path_factory.mktemp("triton")
    # Its own repository: the built one plus a model that is not a detector.
    shutil.copytree(NOT_A_DETECTOR, tmp / "repository" / NOT_A_DETECTOR.name)
    server = new_server(tmp, repository=tmp / "repository",
                        models=(*MODELS, NOT_A_DETECTOR.name))
    server.start()
    yield server
    server.stop()


def triton_config(server: TritonServer, **kw: object) -> DetectorConfig:
    return DetectorConfig(backend="triton",
                          triton=TritonConfig(url=server.grpc_url, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("shared_memory", [False, True])
def test_same_boxes_as_the_embedded_detector(triton: TritonServer, shared_memory: bool,
                                             stadtmitte_frames: list[np.ndarray]) -> None:
    frames = stadtmitte_frames[:8]
    embedded = create_detector(DetectorConfig()).detect(frames)

    async def served() -> tuple[list, int]:
        det = await open_detector(triton_config(triton, shared_memory=shared_memory))
        try:
            return await det.detect_async(frames), det.bytes_sent  # type: ignore[union-attr]
        finally:
            await det.aclose()  # type: ignore[union-attr]

    got, sent = asyncio.run(served())
    for a, b in zip(embedded, got, strict=True):
        assert len(a) >= 4 and len(a) == len(b)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
        assert a.class_id.tolist() == b.class_id.tolist()
    assert sent == (0 if shared_memory else 8 * 416 * 416 * 3)


@pytest.mark.parametrize("shared_memory", [False, True])
def test_requests_go_out_while_asyncios_shared_threads_are_all_busy(
        triton: TritonServer, shared_memory: bool, stadtmitte_frames: list[np.ndarray]) -> None:
    """The letterbox runs on the client's own threads: snapshots, inserts and clip fetches
    that fill asyncio's shared pool (a slow NVR, a slow disk) do not hold up detection."""
    async def served() -> int:
        det = await open_detector(triton_config(triton, shared_memory=shared_memory))
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(2))
        stuck = threading.Event()
        blockers = [loop.run_in_executor(None, stuck.wait, 60) for _ in range(2)]
        try:
            got = await asyncio.wait_for(
                det.detect_async(stadtmitte_frames[:2]), 30)  # type: ignore[union-attr]
        finally:
            stuck.set()
            await asyncio.gather(*blockers)
            await det.aclose()  # type: ignore[union-attr]
        return sum(len(d) for d in got)

    assert asyncio.run(served()) >= 8


def test_concurrent_cameras_are_batched_by_the_server(
        triton: TritonServer, stadtmitte_frames: list[np.ndarray]) -> None:
    async def cameras() -> dict:
        det = await open_detector(triton_config(triton, max_inflight=16))
        try:
            before = await det.statistics()  # type: ignore[union-attr]

            async def camera(i: int) -> None:
                for k in range(4):
                    await det.detect_async([stadtmitte_frames[(i + k) % 16]])  # type: ignore

            await asyncio.gather(*(camera(i) for i in range(16)))
            # Triton counts a batch once it is done with it, a moment after its answers left:
            # wait for the count rather than read it at once.
            deadline = time.monotonic() + 10
            while True:
                after = await det.statistics()  # type: ignore[union-attr]
                if (after["inference_count"] - before["inference_count"] >= 64
                        or time.monotonic() > deadline):
                    break
                await asyncio.sleep(0.1)
        finally:
            await det.aclose()  # type: ignore[union-attr]
        return {"inferences": after["inference_count"] - before["inference_count"],
                "executions": after["execution_count"] - before["execution_count"],
                "sizes": after["batch_sizes"]}

    r = asyncio.run(cameras())
    assert r["inferences"] == 64
    assert r["executions"] < r["inferences"]  # requests of several cameras ran together
    assert max(r["sizes"]) > 1


def test_wrong_model_name_or_shape_is_a_clear_error(triton: TritonServer) -> None:
    with pytest.raises(DetectorError, match="has no ready model 'yolo'"):
        asyncio.run(open_detector(triton_config(triton, model="yolo")))
    with pytest.raises(DetectorError, match=r"expected input 'images' UINT8 \[-1, H, W, 3\]"):
        asyncio.run(open_detector(triton_config(triton, model="not_a_detector")))
    with pytest.raises(DetectorError, match="is not reachable"):
        asyncio.run(open_detector(DetectorConfig(backend="triton", triton=TritonConfig(
            url=f"127.0.0.1:{free_port()}", timeout_s=2))))


def events(config: Path, tmp: Path, **detector: object) -> list[tuple]:
    """The events of a configuration's cameras with its detector settings changed."""
    s = load_settings(config)
    s = s.model_copy(update={"detector": s.detector.model_copy(update=detector),
                             "outputs": s.outputs.model_copy(update={"data_dir": tmp})})
    service = Service(s)
    asyncio.run(service.run(restart_failed=False))
    return sorted((e.camera, e.rule, e.direction, e.track_id, e.video_time)
                  for e in service.events)


@pytest.mark.parametrize("config", [
    EXAMPLE, *(EXAMPLE.parent / "rulesets" / f"{n}.yaml"
               for n in ("campus-gates", "campus-zones", "stadtmitte-polyline"))],
    ids=lambda p: p.stem)
def test_the_graph_with_nms_fires_todays_events(triton: TritonServer, tmp_path: Path,
                                                config: Path) -> None:
    # Today's embedded detector (numpy decode and NMS) against the graph with both inside,
    # run by ONNX Runtime in-process and by the CPU Triton model, on both shared sequences.
    today = events(config, tmp_path / "embedded")
    graph = triton.repository / "yolox_nano_onnx" / "1" / "model.onnx"
    in_process = events(config, tmp_path / "graph", model=str(graph))
    served = events(config, tmp_path / "triton", backend="triton",
                    triton=TritonConfig(url=triton.grpc_url))
    assert len(today) >= 2  # something to compare: 2 (stadtmitte-polyline) to 7 (the demo)
    assert in_process == today
    assert served == today


def test_triton_killed_mid_run_then_back(tmp_path: Path, stadtmitte: Path) -> None:
    server = new_server(tmp_path / "srv")
    server.start()
    cam = {"id": "live", "source": str(stadtmitte), "analysis_fps": 10, "realtime": True,
           "loop": True, "lines": [{"name": "gate", "points": [[320, 200], [320, 460]]}]}
    settings = Settings.model_validate({
        "cameras": [cam], "outputs": {"data_dir": str(tmp_path)},
        "detector": {"backend": "triton", "triton": {
            "url": server.grpc_url, "timeout_s": 2, "retry_max_s": 1}}})
    service = Service(settings, triton_metrics_url=server.metrics_url)
    service.triton_poll_s = 0.5
    timeline: dict[str, float | int | str] = {}

    async def wait_for(cond: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not cond():  # type: ignore[operator]
            pipe = service.pipelines.get("live")
            assert time.monotonic() < deadline, f"timed out; {pipe and pipe.stats}"
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        await wait_for(lambda: "live" in service.pipelines
                       and service.pipelines["live"].stats.frames_analysed >= 10, 60)
        await wait_for(lambda: service.triton_stats.get("server_metrics"), 10)
        timeline["metrics"] = registry_for(service).get_sample_value(
            "perishield_triton_inference_count_total") or 0
        server.kill()
        stats = service.pipelines["live"].stats
        await wait_for(lambda: stats.state == "degraded", 15)
        timeline["reason"] = stats.reason
        analysed_while_down = stats.frames_analysed
        await asyncio.sleep(1.0)
        assert not task.done()  # the orchestrator keeps running without its detector
        timeline["errors"] = stats.detector_errors
        await asyncio.to_thread(server.start)
        t0 = time.monotonic()
        await wait_for(lambda: stats.state == "live"
                       and stats.frames_analysed > analysed_while_down + 5, 30)
        timeline["resumed_after_s"] = time.monotonic() - t0
        task.cancel()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    print("Triton back → detecting again after", round(float(timeline["resumed_after_s"]), 2),
          "s")
    assert timeline["metrics"] > 0
    assert "Triton" in str(timeline["reason"])
    assert int(timeline["errors"]) >= 1


def test_limits_are_read_from_the_served_model(triton: TritonServer) -> None:
    # The CPU model takes batches of at most 32, keeps scores from 0.05, runs NMS at 0.45 and
    # returns people and vehicles only.
    async def start(**kw: object) -> object:
        det = await open_detector(DetectorConfig(backend="triton", **kw,  # type: ignore[arg-type]
                                                 triton=TritonConfig(url=triton.grpc_url)))
        await det.aclose()  # type: ignore[union-attr]
        return det

    assert asyncio.run(start(max_batch=64)).max_batch == 32  # type: ignore[attr-defined]
    # Requests in flight: 4 for a model on CPU instances unless set (16 on GPU instances).
    assert asyncio.run(start()).max_inflight == 4  # type: ignore[attr-defined]
    explicit = DetectorConfig(backend="triton", triton=TritonConfig(url=triton.grpc_url,
                                                                    max_inflight=8))

    async def inflight() -> int:
        det = await open_detector(explicit)
        await det.aclose()  # type: ignore[union-attr]
        return det.max_inflight  # type: ignore[union-attr]

    assert asyncio.run(inflight()) == 8
    with pytest.raises(DetectorError, match="score_threshold 0.01 is below the 0.05"):
        asyncio.run(start(score_threshold=0.01))
    with pytest.raises(DetectorError, match=r"detector.classes \['dog'\] are not among"):
        asyncio.run(start(classes=["person", "dog"]))


def test_overload_drops_frames_not_the_detector(triton: TritonServer,
                                                stadtmitte_frames: list[np.ndarray]) -> None:
    # Far more single-frame requests at once than the CPU model's queue takes (16, and 200 ms
    # each): Triton turns some down. Those frames are dropped and counted; the detector stays
    # up, and the next request is answered.
    frame = stadtmitte_frames[0]

    async def flood() -> tuple[int, int, bool, int]:
        det = await open_detector(DetectorConfig(
            backend="triton", max_batch=1,
            triton=TritonConfig(url=triton.grpc_url, max_inflight=96, timeout_s=30)))
        try:
            results = await asyncio.gather(*(det.detect_async([frame]) for _ in range(96)),
                                           return_exceptions=True)
            rejected = [r for r in results if isinstance(r, FrameRejected)]
            others = [r for r in results if isinstance(r, BaseException)
                      and not isinstance(r, FrameRejected)]
            assert others == []
            after = await det.detect_async([frame])
            return (len(rejected), det.rejected["queue"],  # type: ignore[union-attr]
                    det.available, len(after[0]))  # type: ignore[union-attr]
        finally:
            await det.aclose()  # type: ignore[union-attr]

    rejected, counted, available, boxes = asyncio.run(flood())
    assert 0 < rejected < 96 and counted == rejected
    assert available and boxes >= 4


def test_late_requests_drop_frames_then_a_silent_server_is_down_and_recovers(
        triton: TritonServer, stadtmitte_frames: list[np.ndarray]) -> None:
    # Deadlines far below the model's time: the first late requests drop their frames only;
    # requests that keep missing it mark the detector down. With the deadline back and the
    # server alive, eight cameras asking at once recover it once: the shared-memory regions
    # the server still holds are not registered again (no ALREADY_EXISTS), and all answer.
    frames = stadtmitte_frames[:8]

    async def run() -> tuple[list[type], int, list[int]]:
        det = await open_detector(triton_config(triton, shared_memory=True))
        det.t = det.t.model_copy(update={"timeout_s": 0.001})  # type: ignore[union-attr]
        try:
            seen: list[type] = []
            for _ in range(4):
                try:
                    await det.detect_async(frames[:1])
                    seen.append(type(None))
                except DetectorError as e:
                    seen.append(type(e))
            late = det.rejected["late"]  # type: ignore[union-attr]
            det.t = det.t.model_copy(update={"timeout_s": 30.0})  # type: ignore[union-attr]
            det._down_until = 0.0  # type: ignore[union-attr]  # skip the backoff's wait
            out = await asyncio.gather(*(det.detect_async([f]) for f in frames))
            return seen, late, [len(d[0]) for d in out]
        finally:
            await det.aclose()  # type: ignore[union-attr]

    seen, late, boxes = asyncio.run(run())
    assert seen[:2] == [FrameRejected, FrameRejected] and late == 2
    assert DetectorUnavailable in seen[2:]
    assert all(n >= 1 for n in boxes)


def test_two_servers_share_the_load_and_one_lost_is_left_to_the_other(
        triton: TritonServer, tmp_path: Path, stadtmitte_frames: list[np.ndarray]) -> None:
    # detector.triton.url lists two servers: requests go to both; one is killed mid-run and
    # every later request is answered by the other, with no error reaching the cameras.
    frames = stadtmitte_frames[:8]
    second = new_server(tmp_path)
    second.start()
    try:
        async def run() -> tuple[list[int], list[int], bool, list[bool]]:
            det = await open_detector(DetectorConfig(backend="triton", triton=TritonConfig(
                url=[triton.grpc_url, second.grpc_url], max_inflight=2)))
            try:
                before = await asyncio.gather(*(det.detect_async([f]) for f in frames * 2))
                served = [(await m.statistics())["inference_count"]  # type: ignore[union-attr]
                          for m in det.members]  # type: ignore[union-attr]
                second.kill()
                after = await asyncio.gather(*(det.detect_async([f]) for f in frames * 2))
                return ([len(d[0]) for d in before + after], served,
                        det.available,  # type: ignore[union-attr]
                        [m.available for m in det.members])  # type: ignore[union-attr]
            finally:
                await det.aclose()  # type: ignore[union-attr]

        boxes, served, available, members = asyncio.run(run())
        assert all(n >= 1 for n in boxes) and len(boxes) == 32
        assert all(n > 0 for n in served)  # both servers answered requests
        assert available and members == [True, False]
    finally:
        second.stop()


def test_restricted_endpoints_want_the_admin_header(tmp_path: Path,
                                                   stadtmitte_frames: list[np.ndarray]) -> None:
    # A server that keeps shared memory, model configuration and statistics behind a header
    # (deploy/triton/docker-compose.yml): the detector with the header registers its regions
    # and detects; without it, a clear error says what is missing.
    server = TritonServer(
        grpc_port=free_port(), http_port=free_port(), metrics_port=free_port(), models=MODELS,
        work_dir=tmp_path, extra_args=(
            "--grpc-restricted-protocol=shared-memory,model-config,model-repository,"
            "statistics:perishield-admin=s3cret",))
    server.start()
    try:
        async def detect(header: str | None) -> int:
            det = await open_detector(DetectorConfig(backend="triton", triton=TritonConfig(
                url=server.grpc_url, shared_memory=True, admin_header=header)))
            try:
                return len((await det.detect_async(stadtmitte_frames[:1]))[0])  # type: ignore[union-attr]
            finally:
                await det.aclose()  # type: ignore[union-attr]

        assert asyncio.run(detect("perishield-admin=s3cret")) >= 4
        with pytest.raises(DetectorError, match="admin_header"):
            asyncio.run(detect(None))
    finally:
        server.stop()


def test_keepalive_pings_are_accepted_while_idle(triton: TritonServer,
                                                stadtmitte_frames: list[np.ndarray]) -> None:
    # Pings every 0.5 s over an idle channel: the server (started as deploy/ and `triton
    # serve` start it) accepts them, so the channel is still up for the next request.
    async def run() -> int:
        det = await open_detector(triton_config(triton, keepalive_s=0.5))
        try:
            await asyncio.sleep(4)
            return len((await det.detect_async(stadtmitte_frames[:1]))[0])  # type: ignore[union-attr]
        finally:
            await det.aclose()  # type: ignore[union-attr]

    assert asyncio.run(run()) >= 4


def test_a_server_listed_twice_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        TritonConfig(url=["127.0.0.1:8001", "127.0.0.1:8001"])


def test_metrics_endpoint_is_readable(triton: TritonServer) -> None:
    with urllib.request.urlopen(triton.metrics_url, timeout=5) as r:
        text = r.read().decode()
    assert 'nv_inference_count{model="yolox_nano_cpu"' in text
