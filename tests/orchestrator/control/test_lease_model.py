"""Model-based test of the lease protocol on the real Redis, with a controlled clock.

Hypothesis drives claims, renewals, releases and the passing of time (a worker that does not act
for a while is a paused or partitioned worker). Each worker trusts a lease only until its own
clock says so (last successful renewal + ttl − margin), as the real worker does. After every
step: no camera has two workers that both trust their lease, tokens only grow, and a worker
that trusts a lease holds the current token.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from orchestrator.control.leases import Lease, SyncLeaseClient
from orchestrator.control.redis_client import Keys, connect_sync
from tests.control_helpers import REDIS_URL

pytestmark = pytest.mark.redis

CAMERAS = ["a", "b", "c"]
WORKERS = ["w1", "w2", "w3"]
TTL_MS, MARGIN_MS = 1000, 100


class LeaseProtocol(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.r = connect_sync(REDIS_URL)
        self.keys = Keys(f"model-{uuid.uuid4().hex[:8]}:")
        self.r.sadd(self.keys.enabled, *CAMERAS)
        # The client the worker's claim and renewal threads use.
        self.clients = {w: SyncLeaseClient(self.r, self.keys, w, TTL_MS / 1000)
                        for w in WORKERS}
        sec, usec = self.r.time()
        self.now = sec * 1000 + usec // 1000
        self.held: dict[str, dict[str, tuple[int, int]]] = {w: {} for w in WORKERS}
        self.last_token: dict[str, int] = {}

    def teardown(self) -> None:
        keys = self.r.keys(f"{self.keys.prefix}*")
        if keys:
            self.r.delete(*keys)
        self.r.close()

    def trusts(self, w: str, cam: str) -> bool:
        return cam in self.held[w] and self.held[w][cam][1] > self.now

    @rule(w=st.sampled_from(WORKERS), n=st.integers(1, 3))
    def claim(self, w: str, n: int) -> None:
        got = self.clients[w].claim(n, set(self.held[w]), now_ms=self.now)
        for lease in got:
            assert lease.token > self.last_token.get(lease.camera, 0)
            self.last_token[lease.camera] = lease.token
            self.held[w][lease.camera] = (lease.token, self.now + TTL_MS - MARGIN_MS)

    @rule(w=st.sampled_from(WORKERS))
    def renew(self, w: str) -> None:
        leases = [Lease(c, t) for c, (t, _) in self.held[w].items()]
        lost = self.clients[w].renew(leases, now_ms=self.now)
        for cam in list(self.held[w]):
            if cam in lost:
                del self.held[w][cam]
            else:
                self.held[w][cam] = (self.held[w][cam][0], self.now + TTL_MS - MARGIN_MS)

    @rule(w=st.sampled_from(WORKERS), cam=st.sampled_from(CAMERAS))
    def release(self, w: str, cam: str) -> None:
        if cam in self.held[w]:
            token = self.held[w].pop(cam)[0]
            self.clients[w].release([Lease(cam, token)])

    @rule(dt=st.integers(1, 1600))
    def time_passes(self, dt: int) -> None:
        self.now += dt

    @invariant()
    def at_most_one_trusted_holder(self) -> None:
        for cam in CAMERAS:
            trusting = [w for w in WORKERS if self.trusts(w, cam)]
            assert len(trusting) <= 1, f"{cam} trusted by {trusting} at {self.now}"
            if trusting:
                token = self.r.hget(self.keys.lease(cam), "token")
                assert int(token) == self.held[trusting[0]][cam][0]


LeaseProtocol.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                           deadline=None)
TestLeaseProtocol = LeaseProtocol.TestCase
