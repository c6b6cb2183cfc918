"""Where PeriShield finds its default weights and demo data (never downloaded at run time)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = "yolox_nano.onnx"


def in_checkout() -> bool:
    """Running from a source checkout (an editable install), not from an installed wheel."""
    return (PROJECT_ROOT / "pyproject.toml").is_file()


def state_dir() -> Path:
    """Where PeriShield writes what it builds for itself (the Triton venv, the served model
    repository, the server's work folder): ``$PERISHIELD_HOME``; else the checkout; else
    ``$XDG_DATA_HOME/perishield`` (``~/.local/share/perishield``). Never inside an installed
    package."""
    if os.environ.get("PERISHIELD_HOME"):
        return Path(os.environ["PERISHIELD_HOME"])
    if in_checkout():
        return PROJECT_ROOT
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "perishield"


def _candidates(env: str, sub: str) -> list[Path]:
    dirs = []
    if os.environ.get(env):
        dirs.append(Path(os.environ[env]))
    if in_checkout():  # the shared folder beside the checkout
        dirs.append(PROJECT_ROOT.parent / "shared" / sub)
    dirs += [Path.cwd() / "shared" / sub, Path.cwd().parent / "shared" / sub,
             Path.home() / ".local/share/perishield" / sub]
    return dirs


def model_search_dirs() -> list[Path]:
    """Folders searched for a model given by bare file name, in order."""
    return _candidates("PERISHIELD_MODELS_DIR", "models")


def data_search_dirs() -> list[Path]:
    """Folders searched for the demo videos and their ground truth, in order."""
    return _candidates("PERISHIELD_DATA_DIR", "data")


class MissingAssetError(FileNotFoundError):
    """A model or data file is not where PeriShield looks; the message says where to put it."""


def find_asset(name: str | Path, dirs: list[Path], what: str, setting: str) -> Path:
    """Return an existing file: ``name`` itself if it is a path that exists, else the first
    ``dir/name`` that exists.

    Raises:
        MissingAssetError: with the folders looked in and how to point PeriShield at the file.
    """
    p = Path(name)
    if p.is_file():
        return p.resolve()
    if p.is_absolute() or len(p.parts) > 1:
        raise MissingAssetError(f"{what} not found at {p}; fix {setting} or put the file there")
    for d in dirs:
        if (d / p).is_file():
            return (d / p).resolve()
    looked = ", ".join(str(d) for d in dirs)
    raise MissingAssetError(
        f"{what} {p.name!r} not found; looked in: {looked}. Put the file in one of these folders "
        f"(e.g. the shared/models checkout beside the project) or set {setting} to its path"
    )


def find_model(name: str | Path | None) -> Path:
    return find_asset(name or DEFAULT_MODEL, model_search_dirs(), "detector model",
                      "detector.model (PERISHIELD_DETECTOR__MODEL) or PERISHIELD_MODELS_DIR")


def find_data(name: str) -> Path:
    return find_asset(name, data_search_dirs(), "data file", "PERISHIELD_DATA_DIR")
