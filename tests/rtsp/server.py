"""Start and stop the real RTSP test server (rtsp_server.py under the system python3)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from orchestrator.triton.server import free_port

SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


class RtspServer:
    """gst-rtsp-server on 127.0.0.1 serving files at mount points (see rtsp_server.py)."""

    def __init__(self, mounts: dict[str, Path], shared: bool = False,
                 drop_probability: float = 0.0, requests_log: Path | None = None,
                 port: int | None = None, codec: str = "h264") -> None:
        self.mounts = mounts
        self.codec = codec
        self.shared = shared
        self.drop_probability = drop_probability
        self.requests_log = requests_log
        self.port = port or free_port()
        self._proc: subprocess.Popen[str] | None = None

    def url(self, mount: str, auth: str = "") -> str:
        return f"rtsp://{auth + '@' if auth else ''}127.0.0.1:{self.port}{mount}"

    def start(self, timeout_s: float = 15.0) -> None:
        cmd = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port)]
        for path, file in self.mounts.items():
            cmd += ["--mount", f"{path}={file}"]
        cmd += ["--codec", self.codec]
        if self.shared:
            cmd.append("--shared")
        if self.drop_probability:
            cmd += ["--drop-probability", str(self.drop_probability)]
        if self.requests_log:
            cmd += ["--requests", str(self.requests_log)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if "ready" not in line or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line!r}")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def transcode(src: Path, dst: Path, loops: int = 1, size: str | None = None,
              encoder: str = "libx264", bframes: int = 0) -> Path:
    """An H.264 MP4 (as cameras send; or another ``encoder``, container by ``dst``'s suffix)
    from ``src``, repeated ``loops`` times; cached."""
    if dst.exists():
        return dst
    cmd = ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(src),
           "-c:v", encoder, "-g", "12", "-bf", str(bframes), "-pix_fmt", "yuv420p"]
    if encoder == "libx264":
        cmd += ["-preset", "veryfast"]
    elif encoder == "libx265":
        cmd += ["-preset", "ultrafast", "-x265-params", "log-level=error"]
    if size:
        cmd += ["-vf", f"scale={size}"]
    subprocess.run([*cmd, str(dst)], check=True)
    return dst


def palindrome(src: Path, dst: Path, loops: int) -> Path:
    """H.264 MP4 of ``src`` played forwards then backwards, ``loops`` times: people keep
    walking (back and forth) for as long as a test needs, with no jump at the seams; cached."""
    if dst.exists():
        return dst
    graph = (f"[0:v]split[f][b];[b]reverse[r];[f][r]concat=n=2:v=1[p];"
             f"[p]loop=loop={loops - 1}:size=32767:start=0[out]")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-filter_complex", graph,
                    "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", "-g", "12",
                    "-bf", "0", "-pix_fmt", "yuv420p", str(dst)], check=True)
    return dst
