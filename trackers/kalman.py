"""Constant-velocity Kalman filter over (cx, cy, aspect, height), vectorised over tracks.

The state and noise model follow ByteTrack / DeepSORT: state (cx, cy, a, h, vcx, vcy, va, vh),
noise scaled by the box height.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def xyxy_to_xyah(b: npt.NDArray[np.floating]) -> F64:
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w / np.maximum(h, 1e-6), h], 1)


def xyah_to_xyxy(m: F64) -> npt.NDArray[np.float32]:
    w = m[:, 2] * m[:, 3]
    h = m[:, 3]
    return np.stack([m[:, 0] - w / 2, m[:, 1] - h / 2, m[:, 0] + w / 2, m[:, 1] + h / 2],
                    1).astype(np.float32)


def _diag(std: F64) -> F64:
    """(N, k) standard deviations → (N, k, k) diagonal covariances."""
    n, k = std.shape
    out = np.zeros((n, k, k))
    idx = np.arange(k)
    out[:, idx, idx] = std ** 2
    return out


def initiate(xyah: F64) -> tuple[F64, F64]:
    """New states (N, 8) and covariances (N, 8, 8) from measurements (N, 4)."""
    h = xyah[:, 3]
    mean = np.concatenate([xyah, np.zeros_like(xyah)], axis=1)
    std = np.stack([2 * _STD_POS * h, 2 * _STD_POS * h, np.full_like(h, 1e-2), 2 * _STD_POS * h,
                    10 * _STD_VEL * h, 10 * _STD_VEL * h, np.full_like(h, 1e-5),
                    10 * _STD_VEL * h], axis=1)
    return mean, _diag(std)


def predict(mean: F64, cov: F64) -> tuple[F64, F64]:
    """One step ahead for every track."""
    h = mean[:, 3]
    std = np.stack([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-2), _STD_POS * h,
                    _STD_VEL * h, _STD_VEL * h, np.full_like(h, 1e-5), _STD_VEL * h], axis=1)
    mean = mean @ _F.T
    cov = _F @ cov @ _F.T + _diag(std)
    return mean, cov


def update(mean: F64, cov: F64, xyah: F64) -> tuple[F64, F64]:
    """Correct states (N, 8) with their matched measurements (N, 4)."""
    h = mean[:, 3]
    std = np.stack([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-1), _STD_POS * h], axis=1)
    s = _H @ cov @ _H.T + _diag(std)  # (N, 4, 4)
    pht = cov @ _H.T  # (N, 8, 4)
    gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # P H^T S^-1
    innovation = xyah - mean[:, :4]
    mean = mean + np.einsum("nij,nj->ni", gain, innovation)
    cov = cov - gain @ s @ gain.transpose(0, 2, 1)
    return mean, cov
