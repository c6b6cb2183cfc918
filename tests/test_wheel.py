"""PeriShield installed from its wheel, outside the checkout: it analyses a video and serves
Triton, and writes nothing inside the installed package."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from orchestrator.paths import PROJECT_ROOT
from orchestrator.triton.server import DEFAULT_VENV, free_port

pytestmark = pytest.mark.triton
KEEP_OUT = {".git", ".venv", ".venv-triton", "perishield-data", "build", ".mypy_cache",
            ".ruff_cache", ".pytest_cache", "__pycache__"}


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the checkout with the wheel installed (its dependencies are this
    environment's, through a .pth file: nothing is downloaded)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(PROJECT_ROOT, src, ignore=lambda d, names: [
        n for n in names if n in KEEP_OUT or n.startswith(".venv") or n.endswith(".egg-info")
        or (Path(d) == PROJECT_ROOT and n == "model_repository")])  # the built one
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
                    "--disable-pip-version-check", "-w", str(tmp / "dist")], check=True)
    wheel = next((tmp / "dist").glob("perishield-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                    "--disable-pip-version-check", "--target", str(site), str(wheel)],
                   check=True)
    (venv / "bin" / "perishield").write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom orchestrator.cli import main\n"
        "sys.exit(main())\n")
    (venv / "bin" / "perishield").chmod(0o755)
    return venv


def test_installed_wheel_analyses_and_serves(installed: Path, tmp_path: Path,
                                             stadtmitte: Path) -> None:
    package = next((installed / "lib").glob("python*/site-packages")) / "orchestrator"
    before = files_under(package)
    assert "triton/model_repository/yolox_nano_cpu/config.pbtxt" in before
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERISHIELD_")}
    env.update(PERISHIELD_MODELS_DIR=str(stadtmitte.parents[1] / "models"),
               PERISHIELD_HOME=str(tmp_path / "home"),
               PERISHIELD_TRITON_VENV=str(DEFAULT_VENV))  # the checkout's, built once
    work = tmp_path / "work"
    work.mkdir()
    exe = str(installed / "bin" / "perishield")
    out = subprocess.run([exe, "analyze", str(stadtmitte), "--line", "gate:320,200;320,460",
                          "--data-dir", str(tmp_path / "data"), "-q"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "event(s) in" in out.stdout
    imported = subprocess.run([str(installed / "bin" / "python"), "-c",
                               "import orchestrator; print(orchestrator.__file__)"],
                              cwd=work, env=env, capture_output=True, text=True, check=True)
    assert imported.stdout.startswith(str(package))  # the wheel's, not the checkout's
    port = free_port()
    serve = subprocess.Popen([exe, "triton", "serve", "--grpc-port", str(port),
                              "--http-port", str(free_port()),
                              "--metrics-port", str(free_port())],
                             cwd=work, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert "tritonserver ready" in line, serve.stderr.read() if serve.stderr else ""
        served = tmp_path / "home" / "model_repository" / "yolox_nano_cpu"
        assert (served / "1" / "model.onnx").is_file() and (served / "config.pbtxt").is_file()
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    assert files_under(package) == before  # nothing written inside the installed package
    assert list(work.iterdir()) == []  # nor in the folder it ran from
