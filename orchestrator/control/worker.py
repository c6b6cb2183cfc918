"""An orchestrator under the control plane: it registers, leases cameras, runs them, applies
parameter changes within a second, publishes its status, and obeys control messages.

Safety: a camera runs here only while this worker's lease on it is valid by its own clock
(renewed twice per heartbeat; a watchdog stops cameras whose renewal lapsed, e.g. after a pause
or while Redis is unreachable), and every event it writes carries the lease's fencing token,
which the event store refuses once a newer holder registered a larger one.

Leases are renewed on one thread and claimed on another, each with its own Redis connection,
so an overloaded worker, whose event loop runs seconds late and makes every await cost as much,
keeps its leases and takes a dead worker's share on time: the loop is asked once per claim, to
start its cameras. A loop that stops running altogether (wedged for three heartbeats) stops the
renewals, and its cameras go to the other workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from orchestrator.config import Settings
from orchestrator.control.leases import Lease, LeaseClient, SyncLeaseClient
from orchestrator.control.params import (
    ControlPlaneError,
    ParamCenter,
    StoredDocumentInvalid,
    VersionedCamera,
    read_documents,
)
from orchestrator.control.redis_client import Keys, connect, connect_sync
from orchestrator.control.status import StatusPublisher, live_workers_sync
from orchestrator.events.store import StaleFenceError
from orchestrator.live import LiveFrames, chain_frames
from orchestrator.service import Service

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Held:
    token: int
    version: int
    valid_until: float  # monotonic: stop trusting the lease after this
    paused: bool = False
    invalid: str = ""  # why its stored document is refused: held, not run, shown in status
    starting: bool = False  # claimed and renewed, not yet run: parameters wait for the start


@dataclass(slots=True)
class Claim:
    """Cameras claimed on the claim thread, for the loop to start."""

    leases: list[Lease]
    renewed_at: float  # monotonic: the claim, then each renewal while the loop has not taken it
    refused: dict[str, StaleFenceError] = field(default_factory=dict)  # fences refused
    docs: dict[str, VersionedCamera | StoredDocumentInvalid | None] = field(
        default_factory=dict)
    paused: set[str] = field(default_factory=set)
    taken: Any = None  # the loop's concurrent.futures.Future, once asked to start them


class Worker:
    """One orchestrator process in a site of many."""

    def __init__(self, settings: Settings, worker_id: str | None = None,
                 service: Service | None = None) -> None:
        self.settings = settings
        self.c = settings.control
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.keys = Keys(self.c.prefix)
        self.service = service or Service(settings)
        self.service.on_lease_lost = self._lost_by_fence
        self.held: dict[str, Held] = {}
        self.draining = False
        self._excluded: dict[str, float] = {}  # cameras just handed off: not re-claimed soon
        self.failures: dict[str, int] = {}  # periodic task → failed runs (in /metrics)
        # taken / lost (not renewed in time, or fenced off) / handed_off / renewed: leases (in
        # /metrics)
        self.lease_events: dict[str, int] = {"taken": 0, "lost": 0, "handed_off": 0,
                                             "renewed": 0}
        self._stop = asyncio.Event()
        self._drained = asyncio.Event()  # cameras stopped and released after a stop
        self._lock = asyncio.Lock()
        self.redis: Any = None
        # Trust a lease a little less long than Redis does: the watchdog (every 0.25 s) and
        # stopping a camera must both be done before another worker can claim it.
        self.trust_s = self.c.ttl_s - min(1.0, 0.2 * self.c.ttl_s)
        # The event loop's pulse (the watchdog's runs): how late it runs, and whether it runs
        # at all. Past stall_s without a run the renewal thread lets the leases go.
        self.stall_s = 3 * self.c.heartbeat_s
        self._pulse = time.monotonic()
        self._late = [0.0, 0.0]  # the loop's largest lateness this half-heartbeat, and the last
        self._late_since = self._pulse
        self._threads_stop = threading.Event()
        self._taking: Claim | None = None  # claimed on the claim thread, not yet started

    @property
    def loop_lag_s(self) -> float:
        """How late the event loop ran a timer at worst over the last half to whole heartbeat."""
        return max(self._late)

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        self.redis = connect(self.c.redis_url, self.c.timeout_s)
        self.params = ParamCenter(self.redis, self.keys)
        self.leases = LeaseClient(self.redis, self.keys, self.id, self.c.ttl_s)
        self.status = StatusPublisher(self.redis, self.keys, self, self.c)
        live_redis = connect(self.c.redis_url, self.c.timeout_s, binary=True)
        self.live = LiveFrames(live_redis, self.keys, self.service.cameras.get)
        self.service.on_frame = chain_frames(self.service.on_frame, self.live.on_frame)
        loop = asyncio.get_running_loop()
        threads = [threading.Thread(target=self._renewal_thread, args=(loop,),
                                    name="lease-renewal", daemon=True),
                   threading.Thread(target=self._claim_thread, args=(loop,),
                                    name="lease-claims", daemon=True)]
        try:
            async with self.service.running():
                await self.status.register()
                self._pulse = time.monotonic()
                for t in threads:
                    t.start()
                watchdog = asyncio.create_task(self._every(0.25, self._watchdog, "watchdog",
                                                           until=self._drained))
                loops = {"heartbeat": self._every(self.c.heartbeat_s / 2, self.status.register,
                                                  "heartbeat"),
                         "housekeeping": self._every(self.c.heartbeat_s, self._housekeeping,
                                                     "housekeeping"),
                         "status": self._every(self.c.status_interval_s, self.status.publish,
                                               "status"),
                         "live view": self._every(0.5, self.live.refresh, "live view"),
                         "notices": self._listen()}
                tasks = [asyncio.create_task(x, name=n) for n, x in loops.items()]
                await self._stop.wait()
                log.info("stopping: %d cameras to stop and release", len(self.held))
                for task in tasks:
                    task.cancel()
                _, pending = await asyncio.wait(tasks, timeout=10)
                for task in pending:  # never a reason not to stop: said, and left behind
                    log.error("stopping: task %s did not end when cancelled; at %s",
                              task.get_name(), task.get_stack())
                # Drain: no more claims; the cameras stop (events recorded, clips flushed) and
                # their leases are released, renewed and watched over until then.
                self.draining = True
                taking = self._taking
                if taking is not None and taking.taken is not None:  # started, then released
                    await asyncio.gather(asyncio.wrap_future(taking.taken),
                                         return_exceptions=True)
                await self._release_all()
                log.info("stopping: cameras stopped, leases released")
                self._threads_stop.set()
                self._drained.set()
                await asyncio.wait([watchdog], timeout=1)
                watchdog.cancel()
                for t in threads:
                    await asyncio.to_thread(t.join)
        finally:
            self._threads_stop.set()
            with contextlib.suppress(Exception):
                await self.status.unregister()
            await self.redis.aclose()
            await live_redis.aclose()

    async def _every(self, period: float, step: Any, name: str,
                     until: asyncio.Event | None = None) -> None:
        """Run ``step`` at a fixed rate (a slow step does not push the next one back) until
        the worker stops (or ``until``). Any failure is logged, counted and retried at the
        next run: a periodic task never ends while the worker lives (a claim loop that died
        while the heartbeat went on would leave a worker that looks alive and does nothing).
        The stop is checked as well as cancelled: a cancellation that meets a Redis call's own
        deadline can come out as that call's TimeoutError, and the task would go on."""
        until = until or self._stop
        next_at = time.monotonic()
        while not until.is_set():
            try:
                await step()
            except (ControlPlaneError, RedisError, OSError) as e:
                self._failed(name)
                log.warning("%s: %s", name, e)
            except Exception:  # logged with its traceback, retried
                self._failed(name)
                log.exception("%s failed; retrying in %.1f s", name, period)
            next_at = max(next_at + period, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    def _failed(self, task: str) -> None:
        self.failures[task] = self.failures.get(task, 0) + 1

    # -- leases -------------------------------------------------------------------------------

    async def _fair_share(self) -> int:
        return self._share(await self.redis.scard(self.keys.enabled),
                           len(await self.status.live_workers()))

    def _share(self, cameras: int, workers: int) -> int:
        return min(self.c.capacity, math.ceil(cameras / max(1, workers)))

    def _claim_once(self, r: Any, leases: SyncLeaseClient) -> Claim | None:
        """On the claim thread: claim up to the fair share, record the fences and read the
        documents of all claimed at once; the loop then starts them (``_start_claimed``)."""
        if self.draining or self._stop.is_set():
            return None
        now = time.monotonic()
        held = self.held.copy()  # one C call each: atomic against the loop's changes
        excluded = {c for c, t in self._excluded.copy().items() if t > now}
        want = self._share(r.scard(self.keys.enabled),
                           len(live_workers_sync(r, self.keys))) - len(held)
        if want <= 0:
            return None
        t0 = time.monotonic()
        got = leases.claim(want, excluded | set(held))
        if not got:
            return None
        # Renewed from here on (the renewal thread reads it), however long the rest takes.
        self._taking = claim = Claim(got, t0)
        try:
            assert self.service.store is not None
            claim.refused = self.service.store.advance_fences({x.camera: x.token for x in got})
            claim.docs = read_documents(r, self.keys, [x.camera for x in got])
            claim.paused = set(r.smembers(self.keys.paused))
        except Exception:
            self._taking = None
            with contextlib.suppress(ControlPlaneError):
                leases.release(got)
            raise
        log.info("claimed %d cameras in %.2f s", len(got), time.monotonic() - t0)
        return claim

    async def _start_claimed(self, claim: Claim) -> None:
        """On the loop: hold the claimed leases and start their cameras (one camera's fault
        never stops the others)."""
        if self._stop.is_set():  # claimed as the worker stops: given back
            with contextlib.suppress(ControlPlaneError):
                await self.leases.release(claim.leases)
            return
        async with self._lock:
            for lease in claim.leases:
                self.held[lease.camera] = Held(lease.token, 0,
                                               claim.renewed_at + self.trust_s, starting=True)
        for lease in claim.leases:
            try:
                if lease.camera in claim.refused:
                    raise claim.refused[lease.camera]
                await self._take(lease, claim.docs[lease.camera], lease.camera in claim.paused)
            except Exception as e:  # noqa: BLE001 - one camera's fault never stops the others
                self._failed("claim")
                log.error("camera %s not taken: %s: %s", lease.camera, type(e).__name__, e)
                await self._untake(lease)
                # Not claimed again at once: its lease token would climb on every round.
                self._excluded[lease.camera] = time.monotonic() + 3 * self.c.claim_interval_s
        with contextlib.suppress(ControlPlaneError, RedisError, OSError):
            await self.status.publish()  # the monitor sees them running at once

    async def _untake(self, lease: Lease) -> None:
        async with self._lock:
            h = self.held.get(lease.camera)
            if h is not None and h.token == lease.token and h.starting:
                del self.held[lease.camera]
        with contextlib.suppress(ControlPlaneError):
            await self.leases.release([lease])

    async def _take(self, lease: Lease, got: VersionedCamera | StoredDocumentInvalid | None,
                    paused: bool) -> None:
        cam = lease.camera
        h = self.held.get(cam)
        if h is None or h.token != lease.token:
            return  # dropped while it started (handed off, drained, lost)
        if isinstance(got, StoredDocumentInvalid):
            # Held (so no other worker churns on it) but not run, and said so in status.
            h.version, h.invalid, h.starting = got.version, str(got), False
            log.error("leased %s (token %d) but not running it: %s", cam, lease.token, got)
            return
        if got is None or not got.camera.enabled:
            await self._untake(lease)
            return
        async with self._lock:
            h.version, h.starting = got.version, False
            h.paused = h.paused or paused  # a pause may have come while it started
            if not h.paused:
                self.service.start_camera(got.camera, fence=lease.token)
        self.lease_events["taken"] += 1
        log.info("leased %s (token %d)", cam, lease.token)

    def _renewal_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Renewals every half heartbeat, by this thread's clock and over its own connection,
        and nothing else here that could be slow. Lost leases go to the loop."""
        r = connect_sync(self.c.redis_url, self.c.timeout_s)
        leases = SyncLeaseClient(r, self.keys, self.id, self.c.ttl_s)
        next_at = time.monotonic()
        stalled = False
        try:
            while not self._threads_stop.wait(max(0.0, next_at - time.monotonic())):
                next_at = max(next_at + self.c.heartbeat_s / 2, time.monotonic())
                if self._loop_stalled():
                    if not stalled:
                        log.error("event loop has not run for %.0f s: leases no longer "
                                  "renewed nor claimed, so other workers take the cameras",
                                  self.stall_s)
                    stalled = True
                    continue
                stalled = False
                self._renew_once(r, leases, loop, self._taking)
        finally:
            r.close()

    def _claim_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Claims every claim interval, by this thread's clock and over its own connection;
        the loop is asked once per claim, to start its cameras, and the next claim waits
        until it has."""
        r = connect_sync(self.c.redis_url, self.c.timeout_s)
        leases = SyncLeaseClient(r, self.keys, self.id, self.c.ttl_s)
        next_at = time.monotonic()
        try:
            while not self._threads_stop.wait(max(0.0, next_at - time.monotonic())):
                next_at = max(next_at + self.c.claim_interval_s, time.monotonic())
                taking = self._taking
                if taking is not None:
                    if not taking.taken.done():
                        continue
                    if taking.taken.exception() is not None:
                        self._failed("claim")
                        log.error("claimed cameras not started: %r", taking.taken.exception())
                    self._taking = None
                if self._loop_stalled():
                    continue
                try:
                    claim = self._claim_once(r, leases)
                except (ControlPlaneError, RedisError, OSError) as e:
                    self._failed("claim")
                    log.warning("claim: %s", e)
                except Exception:  # logged with its traceback, retried
                    self._failed("claim")
                    log.exception("claim failed; retrying")
                else:
                    if claim is not None:
                        claim.taken = asyncio.run_coroutine_threadsafe(
                            self._start_claimed(claim), loop)
        finally:
            r.close()

    def _loop_stalled(self) -> bool:
        return time.monotonic() - self._pulse > self.stall_s

    def _renew_once(self, r: Any, leases: SyncLeaseClient, loop: asyncio.AbstractEventLoop,
                    taking: Claim | None) -> None:
        """Extend the leases held (and those being taken) and the registration's expiry, and
        move the trust in each lease on."""
        held = self.held.copy()  # one C call: atomic against the loop's changes
        extra = [x for x in (taking.leases if taking else []) if x.camera not in held]
        t0 = time.monotonic()
        try:
            lost = leases.renew([Lease(c, h.token) for c, h in held.items()] + extra)
            r.pexpire(self.keys.worker(self.id), int(self.c.ttl_s * 1000))
        except (ControlPlaneError, RedisError, OSError) as e:
            self._failed("heartbeat")
            log.warning("heartbeat: %s", e)
            return
        for cam, h in held.items():
            if cam not in lost:
                h.valid_until = max(h.valid_until, t0 + self.trust_s)
        if taking is not None and not lost & {x.camera for x in extra}:
            taking.renewed_at = t0  # a lost one is dropped at its next renewal once held
        self.lease_events["renewed"] += len(held) + len(extra) - len(lost)
        lost_held = {c: held[c].token for c in lost if c in held}
        if lost_held:
            asyncio.run_coroutine_threadsafe(self._renewal_lost(lost_held), loop)

    async def _renewal_lost(self, tokens: dict[str, int]) -> None:
        lost = [c for c, token in tokens.items()  # not dropped or re-taken meanwhile
                if (h := self.held.get(c)) is not None and h.token == token]
        for cam in lost:
            log.error("lease on %s lost; stopping it", cam)
        self.lease_events["lost"] += len(lost)
        await self._drop(*lost)

    async def _housekeeping(self) -> None:
        await self._rebalance()
        await self._catch_up()

    async def _watchdog(self) -> None:
        now = time.monotonic()
        if now - self._late_since > self.c.heartbeat_s / 2:
            self._late = [0.0, self._late[0]]
            self._late_since = now
        self._late[0] = max(self._late[0], now - self._pulse - 0.25)
        self._pulse = now
        lapsed = [cam for cam, h in self.held.items() if h.valid_until < now]
        for cam in lapsed:
            log.error("lease on %s not renewed in time; stopping it", cam)
        self.lease_events["lost"] += len(lapsed)
        await self._drop(*lapsed)

    async def _rebalance(self) -> None:
        """Hand cameras above the fair share to other workers (no flapping: see _hand_off)."""
        excess = len(self.held) - (0 if self.draining else await self._fair_share())
        if excess <= 0:
            return
        await self._hand_off(*sorted(self.held, reverse=True)[:excess])

    async def _hand_off(self, *cams: str) -> None:
        leases = [Lease(c, h.token) for c in cams if (h := self.held.get(c)) is not None]
        if not leases:
            return
        await self._drop(*(x.camera for x in leases))
        await self.leases.release(leases)
        self.lease_events["handed_off"] += len(leases)
        # Long enough for another worker's claim loop to take them, short enough that we take
        # them back if that worker dies soon after.
        now = time.monotonic()
        until = now + 3 * self.c.claim_interval_s
        self._excluded = {c: t for c, t in self._excluded.items() if t > now}
        for x in leases:
            self._excluded[x.camera] = until

    async def _drop(self, *cams: str) -> None:
        """Stop cameras that leave this worker, all at once (each finishes its frame, records
        its events and flushes its clips), and forget them: nothing of them stays here."""
        if not cams:
            return
        async with self._lock:
            for cam in cams:
                self.held.pop(cam, None)
        done = await asyncio.gather(*(self.service.release_camera(c) for c in cams),
                                    return_exceptions=True)
        for cam, err in zip(cams, done, strict=True):
            if isinstance(err, Exception):
                log.error("camera %s did not stop cleanly: %s: %s", cam, type(err).__name__,
                          err)
            else:
                log.info("stopped %s", cam)

    def _lost_by_fence(self, cam: str) -> None:
        if self.held.pop(cam, None) is not None:
            self.lease_events["lost"] += 1
        # its task is ending: forget the camera once it has
        asyncio.get_running_loop().call_soon(self.service.forget_camera, cam)

    async def _release_all(self) -> None:
        leases = [Lease(c, h.token) for c, h in self.held.items()]
        await self._drop(*self.held)
        with contextlib.suppress(ControlPlaneError):
            await self.leases.release(leases)

    # -- parameters and control ---------------------------------------------------------------

    async def _catch_up(self) -> None:
        versions = await self.params.versions(list(self.held))
        for cam, v in versions.items():
            h = self.held.get(cam)
            if h is not None and v > h.version and not h.starting:
                try:
                    await self._apply(cam)
                except (ControlPlaneError, RedisError, OSError) as e:
                    self._failed("apply")
                    log.warning("camera %s: parameters not applied: %s", cam, e)

    async def _apply(self, cam: str) -> None:
        h = self.held.get(cam)
        if h is not None and h.starting:
            return  # it starts on what was read at its claim; caught up at housekeeping
        try:
            got = await self.params.get(cam)
        except StoredDocumentInvalid as e:
            if h is not None and e.version > h.version:
                # Refused, so the camera stops (it would run on settings nobody stored) and
                # says why; a later valid version starts it again.
                h.version, h.invalid = e.version, str(e)
                await self.service.stop_camera(cam)
                log.error("camera %s stopped: %s", cam, e)
                await self.status.publish()
            return
        if h is None:
            return
        if got is None or not got.camera.enabled:
            await self._hand_off(cam)
            return
        if got.version <= h.version:
            return
        h.version = got.version
        if h.invalid:  # valid again: start it afresh under the lease it holds
            h.invalid = ""
            if not h.paused:
                self.service.start_camera(got.camera, fence=h.token)
            how = "paused" if h.paused else "started"
        else:
            how = "paused" if h.paused else await self.service.update_camera(got.camera)
        log.info("camera %s: parameters v%d applied (%s)", cam, got.version, how)
        await self.status.camera_applied(cam, got.version)

    async def _control(self, msg: dict[str, Any]) -> None:
        cmd, cam = msg.get("cmd"), msg.get("camera")
        if cmd == "drain" and msg.get("worker") in (self.id, "*"):
            log.warning("draining: handing every camera to other workers")
            self.draining = True
            await self._hand_off(*self.held)
        elif cmd == "undrain" and msg.get("worker") in (self.id, "*"):
            self.draining = False
        elif cmd in ("pause", "resume") and cam in self.held:
            h = self.held[cam]
            h.paused = cmd == "pause"
            if h.paused:
                await self.service.stop_camera(cam)
            elif not h.invalid and not h.starting:
                got = await self.params.get(cam)
                if got is not None:
                    self.service.start_camera(got.camera, fence=h.token)
            await self.status.publish()

    async def _notice(self, message: dict[str, Any]) -> None:
        """One parameter notice or control message; a bad one is logged and skipped, never
        the end of the listener."""
        try:
            body = json.loads(message["data"])
            if message["channel"] == self.keys.changes:
                if body.get("camera") in self.held:
                    await self._apply(body["camera"])
            else:
                await self._control(body)
        except (RedisError, OSError):
            raise  # the connection: the listener reconnects and catches up
        except Exception as e:  # noqa: BLE001 - one message never stops the others
            self._failed("notices")
            log.warning("notice %r skipped: %s: %s", message.get("data"), type(e).__name__, e)

    async def _listen(self) -> None:
        """Parameter notices and control messages; re-subscribes and catches up after a drop."""
        delay = 0.5
        while not self._stop.is_set():  # checked, not only cancelled: see _every
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.changes, self.keys.control)
                await self._catch_up()
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._notice(message)
            except (RedisError, OSError, ControlPlaneError) as e:
                log.warning("notices: %s; reconnecting in %.1f s", e, delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
