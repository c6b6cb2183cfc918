"""Live RTSP against a real RTSP server on localhost (GStreamer's gst-rtsp-server)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from orchestrator.config import (
    CameraConfig,
    LineConfig,
    NvrConfig,
    Settings,
    load_settings,
)
from orchestrator.detections import Detections
from orchestrator.events.model import Event, new_ulid
from orchestrator.events.recorder import EventRecorder
from orchestrator.events.store import EventStore, outbox
from orchestrator.ingest import AnalysisFrame, PacketRing
from orchestrator.ingest.nvr import fetch_clip, playback_url
from orchestrator.ingest.packets import StoredPacket
from orchestrator.rules import RuleHit
from orchestrator.service import Service
from tests.conftest import EXAMPLE, run_until, until
from tests.rtsp.proxy import BlipProxy
from tests.rtsp.server import RtspServer, palindrome, transcode

pytestmark = pytest.mark.rtsp


@pytest.fixture(scope="session")
def h264(tmp_path_factory: pytest.TempPathFactory, stadtmitte: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("h264")
    return {"once": transcode(stadtmitte, d / "once.mp4"),
            "long": transcode(stadtmitte, d / "long.mp4", loops=8),
            "sub": transcode(stadtmitte, d / "sub.mp4", loops=8, size="320:240")}


def demo_camera(source: str, **kw: object) -> dict:
    cam = load_settings(EXAMPLE).cameras[0].model_dump(mode="json")
    cam.update({"source": source, **kw})
    return cam


def settings(tmp: Path, cameras: list[dict], **detector: object) -> Settings:
    return Settings.model_validate({"cameras": cameras, "detector": detector,
                                    "outputs": {"data_dir": str(tmp), "pre_roll_s": 2,
                                                "post_roll_s": 1}})


def test_rtsp_events_identical_to_file_input(tmp_path: Path, h264: dict[str, Path]) -> None:
    # At 5 analysed fps a frame has 200 ms: the live camera keeps up (drops nothing) even on a
    # machine three times over-subscribed, so what must be equal can be compared.
    file_service = Service(settings(tmp_path / "file", [demo_camera(str(h264["once"]),
                                                                    analysis_fps=5)]))
    asyncio.run(file_service.run(restart_failed=False))
    want = sorted((e.rule, e.direction, e.track_id, e.video_time) for e in file_service.events)
    assert len(want) >= 6

    with RtspServer({"/Streaming/Channels/101": h264["once"]}) as server:
        cam = demo_camera(server.url("/Streaming/Channels/101", "admin:secret"),
                          analysis_fps=5)
        live = Service(settings(tmp_path / "rtsp", [cam]))
        stats = live.stats
        asyncio.run(run_until(live, lambda: "stadtmitte" in stats
                              and stats["stadtmitte"].restarts >= 1, 60))
    got = sorted((e.rule, e.direction, e.track_id, e.video_time) for e in live.events)
    st = stats["stadtmitte"]
    detail = f"rtsp {got}\nfile {want}\nrtsp dropped {st.frames_dropped} of {st.frames_decoded}"
    assert [g[:3] for g in got] == [w[:3] for w in want], detail
    assert all(abs(g[3] - w[3]) <= 0.15 for g, w in zip(got, want, strict=True)), detail
    assert st.frames_dropped == 0

    # The live clip of an event holds frames from before it (pre-roll from the packet ring).
    ev = max(live.events, key=lambda e: e.video_time)
    root = tmp_path / "rtsp" / "evidence"
    snapshot = cv2.imread(str(root / ev.snapshot))  # type: ignore[operator]
    with av.open(str(root / ev.clip)) as c:  # type: ignore[operator]
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    errors = [float(np.mean(cv2.absdiff(f, snapshot))) for f in frames]
    at = int(np.argmin(errors))  # the event's frame inside the clip
    assert at / 25.0 >= 1.5, f"event frame at {at / 25:.2f} s into the clip: no pre-roll"
    assert len(frames) - at >= 20  # and post-roll after it


def test_server_killed_and_restarted_camera_reconnects(tmp_path: Path,
                                                       h264: dict[str, Path]) -> None:
    server = RtspServer({"/cam/realmonitor": h264["long"]})
    server.start()
    cam = {"id": "gate", "source": server.url("/cam/realmonitor"), "analysis_fps": 5,
           "stall_s": 2, "open_timeout_s": 2}
    service = Service(settings(tmp_path, [cam]), max_restart_delay_s=1)
    seen: list[str] = []

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        st = None
        for _ in range(300):
            st = service.stats.get("gate")
            if st and st.frames_analysed >= 10:
                break
            await asyncio.sleep(0.05)
        assert st is not None and st.state == "live"
        server.stop()
        for _ in range(200):
            if st.state in ("stalled", "failed", "connecting") and st.restarts >= 1:
                break
            await asyncio.sleep(0.05)
        seen.append(f"{st.state}: {st.reason}")
        before = st.frames_analysed
        await asyncio.sleep(1.0)
        server.start()
        for _ in range(400):
            if st.state == "live" and st.frames_analysed > before + 10:
                break
            await asyncio.sleep(0.05)
        seen.append(st.state)
        service.request_stop()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    print("camera states:", seen)
    st = service.stats["gate"]
    assert seen[0].split(":")[0] in ("stalled", "failed", "connecting")
    assert seen[1] == "live" and st.restarts >= 1 and st.errors


def test_camera_live_minutes_ago_is_back_seconds_after_its_server(
        tmp_path: Path, h264: dict[str, Path]) -> None:
    # After a 12 s outage the default backoff (doubling to 30 s) would wait up to 16 s more;
    # a camera that was live minutes ago is retried every few seconds.
    server = RtspServer({"/cam": h264["long"]})
    server.start()
    cam = {"id": "gate", "source": server.url("/cam"), "analysis_fps": 5, "stall_s": 2,
           "open_timeout_s": 2}
    service = Service(settings(tmp_path, [cam]))
    found: dict[str, float] = {}

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        st = service.stats

        await until(lambda: "gate" in st and st["gate"].frames_analysed >= 5, 30, st)
        server.stop()
        await until(lambda: st["gate"].blind_s() >= 12, 40, st)
        found["blind_s"] = st["gate"].blind_s()
        found["state"] = st["gate"].state != "live"
        before = st["gate"].frames_analysed
        server.start()
        t0 = time.monotonic()
        await until(lambda: st["gate"].frames_analysed > before, 40, st)
        found["back_after_s"] = time.monotonic() - t0
        found["blind_after"] = st["gate"].blind_s()
        service.request_stop()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    print(found)
    assert found["state"] and found["blind_s"] >= 12
    assert found["back_after_s"] < 7.0  # 3 s cap × jitter ≤ 4.5 s, then connect and decode
    assert found["blind_after"] == 0.0


def test_corrupt_stream_decoder_recovers(tmp_path: Path, h264: dict[str, Path]) -> None:
    with RtspServer({"/lossy": h264["long"]}, drop_probability=0.03) as server:
        cam = {"id": "lossy", "source": server.url("/lossy"), "analysis_fps": 5}
        service = Service(settings(tmp_path, [cam]))
        t0 = time.monotonic()
        asyncio.run(run_until(service, lambda: time.monotonic() - t0 > 8, 60))
    st = service.stats["lossy"]
    # 3 % of the RTP packets were dropped: frames broke, decoding went on.
    assert st.frames_analysed >= 25, st
    assert st.state in ("live", "ended") and st.restarts == 0


def test_many_cameras_keep_their_analysis_rate(tmp_path: Path, h264: dict[str, Path]) -> None:
    n, fps, seconds = 24, 2.0, 8.0
    with RtspServer({"/sub": h264["sub"]}) as server:
        cams = [{"id": f"cam{i:02d}", "source": server.url("/sub"), "analysis_fps": fps}
                for i in range(n)]
        service = Service(settings(tmp_path, cams, model="fastestdet.onnx",
                                   format="fastestdet"))
        seen: dict[str, list[float]] = {}

        def on_frame(cam: str, f: object, _d: object) -> None:
            seen.setdefault(cam, []).append(time.monotonic())

        service.on_frame = on_frame
        t0 = time.monotonic()
        asyncio.run(run_until(service, lambda: time.monotonic() - t0 > seconds + 4, 90))
    # From each camera's first analysed frame to its last (the service's shutdown after the
    # last frame is not analysis time).
    rates = {cid: (len(ts) - 1) / (ts[-1] - ts[0]) for cid, ts in seen.items() if len(ts) > 1}
    print("analysed fps per camera:", {k: round(v, 2) for k, v in rates.items()})
    print("lag p50/p99 ms:", [(round(s.lag_ms(50) or 0), round(s.lag_ms(99) or 0))
                              for s in service.stats.values()][:4])
    assert len(rates) == n
    assert min(rates.values()) >= 0.85 * fps


@pytest.mark.parametrize(("vendor", "path", "query"), [
    ("hikvision", "/Streaming/tracks/101",
     "starttime=20261125T160000Z&endtime=20261125T160003Z"),
    ("dahua", "/cam/playback",
     "channel=1&subtype=0&starttime=2026_11_25_16_00_00&endtime=2026_11_25_16_00_03"),
])
def test_nvr_adapter_fetches_a_time_range(tmp_path: Path, h264: dict[str, Path], vendor: str,
                                          path: str, query: str) -> None:
    log = tmp_path / "requests.log"
    with RtspServer({path: h264["once"]}, requests_log=log) as server:
        nvr = NvrConfig(vendor=vendor, host="127.0.0.1", port=server.port, user="admin",
                        password="p@ss:word", timezone="Asia/Shanghai")  # type: ignore[arg-type]
        start = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)  # 16:00 on the recorder's clock
        end = datetime(2026, 11, 25, 8, 0, 3, tzinfo=UTC)
        assert "p%40ss%3Aword" in playback_url(nvr, start, end)
        out = tmp_path / "clip.mp4"
        duration = fetch_clip(nvr, start, end, out)
    assert log.read_text().splitlines() == [f"{path}?{query}"]
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert 2.4 <= duration <= 3.0 and n >= 60


def test_nvr_unreachable_is_a_clear_error(tmp_path: Path) -> None:
    from orchestrator.ingest import SourceError
    from orchestrator.triton.server import free_port

    nvr = NvrConfig(vendor="dahua", host="127.0.0.1", port=free_port(), password="secret")
    with pytest.raises(SourceError) as e:
        fetch_clip(nvr, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 5,
                                                                   tzinfo=UTC),
                   tmp_path / "x.mp4", timeout_s=2)
    assert "secret" not in str(e.value) and "cannot open" in str(e.value)


def test_people_in_view_through_a_blip_and_an_edit_are_not_new(
        tmp_path: Path, stadtmitte: Path) -> None:
    # The camera reaches a shared live stream through a link that is cut for 3 s; another
    # client keeps the stream playing, so the scene goes on while the camera is blind. The
    # zone is the whole view: each person fires once, when first seen. After the blip and after
    # a hot rule edit, the people still in view are the same people (no burst of entries).
    clip = palindrome(stadtmitte, tmp_path / "pal.mp4", 3)
    whole = {"name": "view", "points": [[0, 0], [640, 0], [640, 480], [0, 480]]}
    with RtspServer({"/live": clip}, shared=True) as server:
        keeper = subprocess.Popen(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i",
                                   server.url("/live"), "-f", "null", "-"],
                                  stdin=subprocess.DEVNULL)
        proxy = BlipProxy(server.port)
        cam = CameraConfig.model_validate(
            {"id": "wall", "source": f"rtsp://127.0.0.1:{proxy.port}/live", "analysis_fps": 5,
             "stall_s": 1, "open_timeout_s": 3, "zones": [whole]})
        service = Service(settings(tmp_path, [cam.model_dump(mode="json")]))
        frames: list[tuple[float, list[int]]] = []  # capture time, track ids
        marks: dict[str, float] = {}
        service.on_frame = lambda _c, f, d: frames.append(
            (f.capture_time, [int(i) for i in d.tracker_id if i >= 0]))

        async def scenario() -> None:
            task = asyncio.create_task(service.run())
            st = service.stats

            await until(lambda: "wall" in st and st["wall"].frames_analysed >= 25, 40, st)
            edited = cam.model_copy(update={
                "rules": cam.rules.model_copy(update={"cooldown_s": 20.0}),
                "lines": [LineConfig(name="kerb", points=[[0, 400], [640, 400]])]})
            marks["edit"] = frames[-1][0]
            assert await service.update_camera(edited) == "hot"
            n = st["wall"].frames_analysed
            await until(lambda: st["wall"].frames_analysed >= n + 15, 30, st)
            marks["cut"] = frames[-1][0]
            proxy.cut(3.0)
            await until(lambda: st["wall"].restarts >= 1 and st["wall"].state == "live", 30, st)
            n = st["wall"].frames_analysed
            await until(lambda: st["wall"].frames_analysed >= n + 15, 30, st)
            service.request_stop()
            await asyncio.wait_for(task, 30)

        try:
            asyncio.run(scenario())
        finally:
            keeper.kill()
            proxy.close()
    times = [t for t, _ in frames]
    back = next(t1 for t0, t1 in itertools.pairwise(times) if t0 >= marks["cut"] and t1 - t0 > 2)
    ids_before = {i for t, ids in frames if t <= marks["cut"] for i in ids}
    ids_after = [set(ids) for t, ids in frames if back <= t < back + 1]
    entries = sorted(e.capture_time.timestamp() for e in service.events)
    after_edit = [t for t in entries if marks["edit"] < t <= marks["edit"] + 0.6]
    after_blip = [t for t in entries if back - 0.1 <= t <= back + 0.6]
    print(f"blind {back - marks['cut']:.1f} s; ids after the blip {ids_after[:2]} "
          f"(before: {sorted(ids_before)}); entries: edit +0.6 s {len(after_edit)}, "
          f"blip +0.6 s {len(after_blip)}")
    assert len(ids_after[0] & ids_before) >= 2  # the same people, the same tracks
    assert len(after_edit) <= 1 and len(after_blip) <= 1


def test_clips_left_pending_by_a_killed_worker_are_finished(
        tmp_path: Path, h264: dict[str, Path]) -> None:
    # A worker was killed after recording its events, before their clips. The worker that
    # holds the camera next fetches those clips from the recorder (NVR playback) and tells the
    # platform; with no recorder it fails them and says so; other cameras' events and recent
    # ones are not its business.
    with RtspServer({"/live": h264["long"], "/Streaming/tracks/101": h264["once"]}) as server:
        nvr = {"vendor": "hikvision", "host": "127.0.0.1", "port": server.port}
        cams = [{"id": "gate", "source": server.url("/live"), "analysis_fps": 2, "nvr": nvr},
                {"id": "yard", "source": server.url("/live"), "analysis_fps": 2}]
        s = settings(tmp_path, cams)
        store = EventStore(s.outputs.store_url)
        old = datetime.now(UTC) - timedelta(minutes=5)

        def left(camera: str, at: datetime) -> Event:
            ev = Event(id=new_ulid(), camera=camera, rule="wall", rule_kind="line",
                       direction="a_to_b", track_id=1, class_id=0, class_name="person",
                       score=0.9, box=[1, 2, 30, 80], trajectory=[], video_time=1.0,
                       capture_time=at, detected_at=at, clip_status="pending",
                       snapshot=f"{camera}/{at:%Y-%m-%d}/x.jpg")
            ev.clip = f"{camera}/{at:%Y-%m-%d}/{ev.id}.mp4"
            store.insert(ev)
            return ev

        gate, yard, recent = left("gate", old), left("yard", old), left("gate", datetime.now(UTC))
        other = left("elsewhere", old)
        service = Service(s)
        asyncio.run(run_until(service, lambda: all(
            (e := store.get(ev.id)) is not None and e.clip_status != "pending"
            for ev in (gate, yard)), 60))
        after = {ev.id: store.get(ev.id) for ev in (gate, yard, recent, other)}
    assert after[gate.id].clip_status == "ready"  # type: ignore[union-attr]
    with av.open(str(s.outputs.evidence_dir / gate.clip)) as c:  # type: ignore[operator]
        assert sum(1 for _ in c.decode(video=0)) >= 60  # pre-roll + post-roll of 25 fps video
    assert after[yard.id].clip_status == "failed"  # type: ignore[union-attr]
    assert after[yard.id].clip is None  # type: ignore[union-attr]
    assert after[recent.id].clip_status == after[other.id].clip_status == "pending"  # type: ignore[union-attr]
    with store.engine.connect() as c:
        rows = c.execute(sa.select(outbox.c.kind, outbox.c.payload)).all()
    follow = {p["event_id"]: (k, p["evidence"]["clip_status"], p["evidence"]["clip_url"])
              for k, p in rows}
    assert follow[gate.id][:2] == ("clip_ready", "ready") and follow[gate.id][2]
    assert follow[yard.id] == ("clip_failed", "failed", None)
    assert recent.id not in follow and other.id not in follow


def test_clip_the_ring_cannot_show_comes_from_the_recorder(
        tmp_path: Path, h264: dict[str, Path]) -> None:
    # The ring holds packets only from 0.3 s after the act (the camera connected just after
    # it): the clip is the recorder's playback of the act's time range, from before the act.
    log = tmp_path / "requests.log"
    with RtspServer({"/Streaming/tracks/101": h264["once"]}, requests_log=log) as server:
        cam = CameraConfig.model_validate({
            "id": "gate", "source": server.url("/live"),
            "nvr": {"vendor": "hikvision", "host": "127.0.0.1", "port": server.port}})
        s = settings(tmp_path, [cam.model_dump(mode="json")])
        ring = PacketRing(30)
        with av.open(str(h264["once"])) as c:
            stream = c.streams.video[0]
            ring.reset(stream)
            for pkt in c.demux(stream):
                if pkt.pts is not None and pkt.size:
                    t = float(pkt.pts * stream.time_base)
                    if t >= 0.5:
                        ring.append(StoredPacket.of(pkt, t))
        store = EventStore(s.outputs.store_url)
        recorder = EventRecorder(cam, s.outputs, store, ring)
        frame = AnalysisFrame(0, 0.2, 0.2, time.time(), np.zeros((480, 640, 3), np.uint8))
        det = Detections(np.array([[100, 100, 140, 200]], np.float32),
                         np.array([0.9], np.float32), np.array([0]), np.array([1]))
        hit = RuleHit("wall", "line", "a_to_b", 1, 0, 0.2, (120.0, 200.0), 0.4)

        async def scenario() -> Event:
            ev = await recorder.record(hit, frame, det, None)
            await recorder.poll(final=True)
            return ev

        ev = asyncio.run(scenario())
        stored = store.get(ev.id)
    assert stored is not None and stored.clip_status == "ready"
    assert log.read_text().startswith("/Streaming/tracks/101?starttime=")
    with av.open(str(s.outputs.evidence_dir / stored.clip)) as c:  # type: ignore[operator]
        first = next(iter(c.decode(video=0)))
    with av.open(str(h264["once"])) as c:
        source_first = next(iter(c.decode(video=0)))
    # the recorder's clip starts at the start of its file, before the ring's first packet
    diff = np.mean(cv2.absdiff(first.to_ndarray(format="bgr24"),
                               source_first.to_ndarray(format="bgr24")))
    assert diff < 8, diff
