"""A local Triton Inference Server for development and tests.

Uses the ``tritonserver`` binary bundled in ``nvidia-pytriton`` (Python backend only), installed
into a venv of its own with numpy<2 (with numpy 2 the Python backend returns empty tensors).
The launcher builds the venv and the model repository, lays out the Python backend with the
stub for this interpreter, points ``LD_LIBRARY_PATH`` at this Python's ``libpython`` (else the
stub loads the system's), starts the server on 127.0.0.1, waits for readiness and stops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.paths import state_dir
from orchestrator.triton.repository import CPU_MODELS, REPOSITORY, build_repository

log = logging.getLogger(__name__)

PYTRITON = "nvidia-pytriton==0.7.0"
VENV_PACKAGES = [PYTRITON, "numpy<2", "onnxruntime>=1.18"]
# Its own venv (numpy<2): $PERISHIELD_TRITON_VENV, else in the state folder (never inside an
# installed package).
DEFAULT_VENV = Path(os.environ.get("PERISHIELD_TRITON_VENV") or state_dir() / ".venv-triton")


class TritonServerError(RuntimeError):
    """The local Triton could not be installed, started or reached."""


def _site_packages(venv: Path) -> Path:
    pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / pyver / "site-packages"


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Create the Triton venv if needed (idempotent); returns its site-packages."""
    marker = venv / ".perishield-ready"
    wanted = "\n".join(VENV_PACKAGES)
    if marker.exists() and marker.read_text() == wanted:
        return _site_packages(venv)
    log.info("installing %s into %s", ", ".join(VENV_PACKAGES), venv)
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *VENV_PACKAGES], check=True)
    except subprocess.CalledProcessError as e:
        raise TritonServerError(f"could not install {PYTRITON} into {venv}: {e}") from None
    marker.write_text(wanted)
    return _site_packages(venv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TritonServer:
    """One ``tritonserver`` process serving the CPU models of ``model_repository/``.

    Example:
        >>> with TritonServer(grpc_port=8001) as server:      # doctest: +SKIP
        ...     print(server.grpc_url)
    """

    grpc_port: int = 8001
    http_port: int = 8000
    metrics_port: int = 8002
    models: tuple[str, ...] = CPU_MODELS
    venv: Path = DEFAULT_VENV
    repository: Path = REPOSITORY
    work_dir: Path = field(default_factory=lambda: state_dir() / "perishield-data" / "triton")
    log_file: Path | None = None
    extra_args: tuple[str, ...] = ()  # more tritonserver flags (e.g. restricted protocols)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def prepare(self) -> list[str]:
        """Install, build the repository and the backend folder; returns the command line."""
        site = ensure_venv(self.venv)
        build_repository(self.repository)
        server_dir = site / "pytriton" / "tritonserver"
        backend = self.work_dir / "backends" / "python"
        backend.mkdir(parents=True, exist_ok=True)
        for f in (server_dir / "backends" / "python").iterdir():
            if f.is_file():
                shutil.copy2(f, backend / f.name)
        stub = (server_dir / "python_backend_stubs" /
                f"{sys.version_info.major}.{sys.version_info.minor}" / "triton_python_backend_stub")
        if not stub.exists():
            raise TritonServerError(f"no Python backend stub for Python "
                                    f"{sys.version_info.major}.{sys.version_info.minor} in {stub}")
        shutil.copy2(stub, backend / stub.name)
        cmd = [str(server_dir / "bin" / "tritonserver"),
               f"--model-repository={self.repository}",
               f"--backend-directory={self.work_dir / 'backends'}",
               "--model-control-mode=explicit",
               *(f"--load-model={m}" for m in self.models),
               "--grpc-address=127.0.0.1", f"--grpc-port={self.grpc_port}",
               "--http-address=127.0.0.1", f"--http-port={self.http_port}",
               "--metrics-address=127.0.0.1", f"--metrics-port={self.metrics_port}",
               "--allow-metrics=true", "--allow-gpu-metrics=false", "--log-verbose=0",
               "--exit-timeout-secs=5",
               # accept the client's keepalive pings (detector.triton.keepalive_s)
               "--grpc-keepalive-permit-without-calls=true",
               "--grpc-http2-max-pings-without-data=0",
               "--grpc-http2-min-recv-ping-interval-without-data=1000",
               *self.extra_args]
        return cmd

    def environment(self) -> dict[str, str]:
        site = _site_packages(self.venv)
        libs = [sysconfig.get_config_var("LIBDIR") or "", str(site / "nvidia_pytriton.libs")]
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [p for p in libs if p] + [env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
        env["PERISHIELD_TRITON_SITE"] = str(site)
        return env

    def start(self, timeout_s: float = 120.0) -> None:
        cmd = self.prepare()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file or self.work_dir / f"tritonserver-{self.grpc_port}.log"
        with open(log_path, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                          env=self.environment(), start_new_session=True)
        self.log_path = log_path
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        url = f"http://127.0.0.1:{self.http_port}/v2/health/ready"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise TritonServerError(f"tritonserver exited with {self._proc.returncode}; "
                                        f"see {self.log_path}:\n{self._tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
            time.sleep(0.2)
        raise TritonServerError(f"tritonserver not ready after {timeout_s:.0f} s; see "
                                f"{self.log_path}:\n{self._tail()}")

    def _tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id, also its process group's (the backend stubs are in it)."""
        return self._proc.pid if self.running and self._proc is not None else None

    def kill(self) -> None:
        """Kill at once (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop cleanly (SIGTERM, then SIGKILL after ``timeout_s``)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
