"""Constant-velocity Kalman filter over (cx, cy, aspect, height), vectorised over tracks.

The motion and noise model are ByteTrack's / DeepSORT's: state (cx, cy, a, h) with a velocity
each, noise scaled by the box height. With that model every coordinate moves independently of the
others (the transition only couples a coordinate with its own velocity; the process and
measurement noise are diagonal), so the 8×8 covariance is exactly four independent 2×2 blocks.
We keep only those blocks, ``pp``, ``pv``, ``vv`` (T, 4) for the position variance, the
position-velocity covariance and the velocity variance of each coordinate, and every step is a
handful of element-wise operations over all tracks instead of batched 8×8 matrix algebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160
# Standard deviations are w * h + c per coordinate (cx, cy, a, h): the aspect ratio gets a
# constant instead of a height-proportional noise.
_W_POS = np.array([_STD_POS, _STD_POS, 0.0, _STD_POS])
_C_POS = np.array([0.0, 0.0, 1e-2, 0.0])
_W_VEL = np.array([_STD_VEL, _STD_VEL, 0.0, _STD_VEL])
_C_VEL = np.array([0.0, 0.0, 1e-5, 0.0])
_C_MEAS = np.array([0.0, 0.0, 1e-1, 0.0])


def xyxy_to_xyah(b: npt.NDArray[np.floating]) -> F64:
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w / np.maximum(h, 1e-6), h], 1)


def xyah_to_xyxy(m: F64) -> npt.NDArray[np.float32]:
    half = np.empty((len(m), 2))
    half[:, 1] = m[:, 3] / 2
    half[:, 0] = m[:, 2] * half[:, 1]
    xy = m[:, :2]
    return np.concatenate([xy - half, xy + half], axis=1).astype(np.float32)


def _std(h: F64, w: npt.NDArray[np.float64], c: npt.NDArray[np.float64]) -> F64:
    return np.outer(h, w) + c


@dataclass(slots=True)
class KalmanState:
    """States of T tracks: ``pos`` and ``vel`` (T, 4), covariance blocks ``pp``, ``pv``, ``vv``."""

    pos: F64
    vel: F64
    pp: F64
    pv: F64
    vv: F64

    @classmethod
    def empty(cls) -> KalmanState:
        z = np.zeros((0, 4))
        return cls(z, z.copy(), z.copy(), z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.pos)

    def select(self, idx: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> KalmanState:
        return KalmanState(self.pos[idx], self.vel[idx], self.pp[idx], self.pv[idx],
                           self.vv[idx])

    def extend(self, other: KalmanState) -> KalmanState:
        return KalmanState(*(np.concatenate([getattr(self, f), getattr(other, f)])
                             for f in ("pos", "vel", "pp", "pv", "vv")))

    @classmethod
    def initiate(cls, xyah: F64) -> KalmanState:
        """New tracks from measurements (N, 4)."""
        h = xyah[:, 3]
        sp = _std(h, 2 * _W_POS, _C_POS)
        sv = _std(h, 10 * _W_VEL, _C_VEL)
        return cls(xyah.copy(), np.zeros_like(xyah), sp * sp, np.zeros_like(xyah), sv * sv)

    def predict(self, frozen_height: npt.NDArray[np.bool_] | None = None) -> None:
        """One step ahead for every track; ``frozen_height`` tracks keep their box size."""
        if frozen_height is not None:
            self.vel[frozen_height, 3] = 0.0
        h = self.pos[:, 3]
        qp = _std(h, _W_POS, _C_POS) ** 2
        qv = _std(h, _W_VEL, _C_VEL) ** 2
        self.pos += self.vel
        self.pp += 2 * self.pv + self.vv + qp
        self.pv += self.vv
        self.vv += qv

    def update(self, idx: npt.NDArray[np.int64], xyah: F64) -> None:
        """Correct tracks ``idx`` with their measurements (len(idx), 4).

        Works on all tracks at once with a zero gain for the unmatched ones, which is cheaper
        than gathering and scattering the matched rows.
        """
        z = self.pos.copy()
        z[idx] = xyah
        r = _std(self.pos[:, 3], _W_POS, _C_MEAS) ** 2
        matched = np.zeros((len(self.pos), 1))
        matched[idx] = 1.0
        inv_s = matched / (self.pp + r)
        kp, kv = self.pp * inv_s, self.pv * inv_s
        innovation = z - self.pos
        self.pos += kp * innovation
        self.vel += kv * innovation
        self.vv -= kv * self.pv
        self.pv -= kp * self.pv
        self.pp -= kp * self.pp
