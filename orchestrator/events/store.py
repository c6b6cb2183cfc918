"""The event store: SQLite by default, the same schema on PostgreSQL (SQLAlchemy Core).

Calls are blocking; the pipeline runs them in a worker thread.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from orchestrator.events.model import Event
from orchestrator.migrations import migrate

metadata = sa.MetaData()

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("rule_kind", sa.String(8), nullable=False),
    sa.Column("direction", sa.String(8)),
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("class_id", sa.Integer, nullable=False),
    sa.Column("class_name", sa.String(32), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("box", sa.JSON, nullable=False),
    sa.Column("trajectory", sa.JSON, nullable=False),
    sa.Column("video_time", sa.Float, nullable=False),
    sa.Column("capture_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("snapshot_path", sa.Text),
    sa.Column("clip_path", sa.Text),
    sa.Column("clip_status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("fence_token", sa.BigInteger),
    sa.Column("point", sa.JSON),  # [x, y]: the anchor where the act happened
    sa.Column("site_x", sa.Float),  # the act on the site plan, metres
    sa.Column("site_y", sa.Float),
    sa.Column("incident", sa.String(26)),  # the id of the incident's first event
    sa.Index("ix_events_camera_time", "camera_id", "capture_time"),
    sa.Index("ix_events_capture_time", "capture_time"),
    sa.Index("ix_events_incident", "incident"),
)

# The highest lease token seen per camera: writes carrying a lower one come from a worker that
# lost the camera (paused, partitioned) and are refused.
camera_fences = sa.Table(
    "camera_fences", metadata,
    sa.Column("camera_id", sa.String(64), primary_key=True),
    sa.Column("token", sa.BigInteger, nullable=False),
)


# Messages to announce, written in the event's own transaction (an alarm is durable before it is
# announced); the relay publishes them to RabbitMQ and marks them once the broker confirmed.
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("event_id", sa.String(26), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # alarm | clip_ready | clip_failed
    sa.Column("routing_key", sa.String(128), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Index("ix_outbox_unpublished", "published_at", "id"),
)

# One row per (event, kind, target) delivered: consumers are idempotent by it.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("event_id", sa.String(26), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(32), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
)

# Operators' acknowledgements and false-alarm marks.
acknowledgements = sa.Table(
    "acknowledgements", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("event_id", sa.String(26), nullable=False, index=True),
    sa.Column("operator", sa.String(64), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),  # confirmed | false_alarm
    sa.Column("note", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


# Operators of the API and UI: roles viewer < operator < admin; passwords as Argon2 hashes.
users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# API tokens for machines (the 3D platform): only their SHA-256 is kept.
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False, index=True),
    sa.Column("label", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
)

# Browser sessions: the SHA-256 of the cookie's value, its CSRF token and its expiry.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


# (acknowledgement, event) → outbox rows (kind, routing key, payload)
AckMessages = Callable[[dict[str, Any], Event], Sequence[tuple[str, str, dict[str, Any]]]]
Messages = Sequence[tuple[str, str, dict[str, Any]]]  # outbox rows: kind, routing key, payload
MessagesOf = Callable[[Event], Messages]
Link = tuple[float, float]  # seconds, metres: how near two acts are one incident
INCIDENT_LOCK = 0x5045_5249_4E43  # pg_advisory_xact_lock key of incident decisions


class StoreError(Exception):
    """The event store cannot be reached or used."""


class UnknownEvent(StoreError, ValueError):
    """No such event in the store."""


class StaleFenceError(StoreError):
    """A write carrying a lease token older than the camera's newest: refused."""


class EventStore:
    """Stores events and answers queries by camera, rule, class and time range.

    Example:
        >>> store = EventStore("sqlite:///perishield-data/events.db")   # doctest: +SKIP
        >>> store.insert(event); store.query(camera="gate-1")            # doctest: +SKIP
    """

    def __init__(self, url: str, create: bool = True) -> None:
        """``create=False``: only open a store that exists (commands that read it never leave
        an empty one behind)."""
        u = make_url(url)
        if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:"):
            if not create and not Path(u.database).is_file():
                raise StoreError(f"no event store at {u.database} (analyse a video or run the "
                                 "service first, or give -c CONFIG / --data-dir)")
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self._linking = threading.Lock()  # incident decisions of this process, one at a time
        sqlite = u.get_backend_name() == "sqlite"
        try:
            # Several worker processes may share one SQLite file: wait for locks, use WAL.
            self._engine = sa.create_engine(
                url, future=True, connect_args={"timeout": 30} if sqlite else {})
            if sqlite:
                sa.event.listen(self._engine, "connect", _sqlite_pragmas)
            migrate(self._engine)  # Alembic, under a lock: concurrent starts are safe
        except (sa.exc.SQLAlchemyError, RuntimeError) as e:
            raise StoreError(f"event store {u.render_as_string(hide_password=True)}: {e}") from None

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as conn:
            yield conn

    def advance_fence(self, camera: str, token: int) -> None:
        """Record ``token`` as the camera's newest lease (called when a worker claims it)."""
        with self._tx() as c:
            self._check_fence(c, camera, token)

    def advance_fences(self, tokens: dict[str, int]) -> dict[str, StaleFenceError]:
        """``advance_fence`` for many cameras in one transaction (a worker taking a dead one's
        hundreds); the cameras whose token is stale are returned, the others recorded."""
        refused: dict[str, StaleFenceError] = {}
        if not tokens:
            return refused
        with self._tx() as c:
            current = dict(c.execute(
                sa.select(camera_fences.c.camera_id, camera_fences.c.token)
                .where(camera_fences.c.camera_id.in_(list(tokens)))).all())
            for camera, token in tokens.items():
                if camera in current and current[camera] > token:
                    refused[camera] = _stale(camera, token, current[camera])
                else:
                    self._check_fence(c, camera, token)
        return refused

    @staticmethod
    def _check_fence(c: sa.Connection, camera: str, token: int) -> None:
        """Inside a transaction: refuse ``token`` if a newer one is recorded, else record it."""
        done = c.execute(camera_fences.update()
                         .where(camera_fences.c.camera_id == camera,
                                camera_fences.c.token <= token)
                         .values(token=token)).rowcount
        if done:
            return
        current = c.execute(sa.select(camera_fences.c.token)
                            .where(camera_fences.c.camera_id == camera)).scalar()
        if current is None:
            c.execute(camera_fences.insert().values(camera_id=camera, token=token))
            return
        raise _stale(camera, token, current)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def insert(self, ev: Event, fence: int | None = None,
               messages: Messages | MessagesOf = (), link: Link | None = None) -> None:
        """Insert an event (with ``fence``: only while no newer lease token exists) and, in the
        same transaction, its outbox ``messages`` (kind, routing key, payload; or a function
        of the event that makes them once its incident is known).

        ``link`` ((seconds, metres)): the event joins the incident of the nearest event (on
        the site plan) whose act is at most that far in time and on the ground, from any
        camera; otherwise it begins its own (``ev.incident`` is set either way)."""
        linking = link is not None and ev.site is not None
        with self._linking if linking else nullcontext(), self._tx() as c:
            if fence is not None:
                self._check_fence(c, ev.camera, fence)
            ev.incident = ev.id
            if linking:
                assert link is not None
                ev.incident = self._incident(c, ev, *link) or ev.id
            self._enqueue(c, ev.id, messages(ev) if callable(messages) else messages)
            c.execute(events.insert().values(
                id=ev.id, camera_id=ev.camera, rule=ev.rule, rule_kind=ev.rule_kind,
                direction=ev.direction, track_id=ev.track_id, class_id=ev.class_id,
                class_name=ev.class_name, score=ev.score, box=ev.box, trajectory=ev.trajectory,
                video_time=ev.video_time, capture_time=ev.capture_time,
                detected_at=ev.detected_at, snapshot_path=ev.snapshot, clip_path=ev.clip,
                clip_status=ev.clip_status, fence_token=fence, point=ev.point,
                site_x=None if ev.site is None else ev.site[0],
                site_y=None if ev.site is None else ev.site[1], incident=ev.incident))

    def _incident(self, c: sa.Connection, ev: Event, seconds: float, metres: float
                  ) -> str | None:
        """Inside ``insert``'s transaction: the incident of the nearest event on the site plan
        within ``seconds`` and ``metres`` of ``ev``'s act, if any. Incidents are decided one
        at a time (in this process, a lock; across processes, on PostgreSQL an advisory lock
        for the transaction, on SQLite the fence write before it, which holds the database's
        write lock), so two cameras' events of one act written at once join one incident."""
        assert ev.site is not None
        if c.dialect.name == "postgresql":
            c.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": INCIDENT_LOCK})
        x, y = ev.site
        near = c.execute(
            sa.select(events.c.incident, events.c.site_x, events.c.site_y)
            .where(events.c.capture_time >= ev.capture_time - timedelta(seconds=seconds),
                   events.c.capture_time <= ev.capture_time + timedelta(seconds=seconds),
                   events.c.site_x.between(x - metres, x + metres),
                   events.c.site_y.between(y - metres, y + metres),
                   events.c.incident.is_not(None))).all()
        best = min(((math.hypot(r.site_x - x, r.site_y - y), r.incident) for r in near),
                   default=None)
        return best[1] if best is not None and best[0] <= metres else None

    @staticmethod
    def _enqueue(c: sa.Connection, event_id: str,
                 messages: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        now = datetime.now(UTC)
        for kind, key, payload in messages:
            c.execute(outbox.insert().values(event_id=event_id, kind=kind, routing_key=key,
                                             payload=payload, created_at=now))

    def set_clip(self, event_id: str, status: str, path: str | None,
                 fence: int | None = None,
                 messages: Sequence[tuple[str, str, dict[str, Any]]] = ()) -> None:
        """Record the clip's outcome and, in the same transaction, its follow-up messages."""
        with self._tx() as c:
            self._enqueue(c, event_id, messages)
            if fence is not None:
                camera = c.execute(sa.select(events.c.camera_id)
                                   .where(events.c.id == event_id)).scalar()
                if camera is not None:
                    self._check_fence(c, camera, fence)
            c.execute(events.update().where(events.c.id == event_id)
                      .values(clip_status=status, clip_path=path))

    def query(self, camera: str | None = None, rule: str | None = None,
              class_name: str | None = None, since: datetime | None = None,
              until: datetime | None = None, limit: int = 100,
              status: str | None = None,
              before: tuple[datetime, str] | None = None,
              incident: str | None = None) -> list[Event]:
        """Newest first. ``status``: unacknowledged, confirmed or false_alarm (the latest
        acknowledgement decides); ``before`` (capture time, id): the page after an event
        (cursor pagination); ``incident``: the events of one incident."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        q = sa.select(events)
        if status is not None:
            latest = (sa.select(acknowledgements.c.verdict)
                      .where(acknowledgements.c.event_id == events.c.id)
                      .order_by(acknowledgements.c.id.desc()).limit(1).scalar_subquery())
            if status == "unacknowledged":
                q = q.where(latest.is_(None))
            elif status in ("confirmed", "false_alarm"):
                q = q.where(latest == status)
            else:
                raise ValueError(f"status must be unacknowledged, confirmed or false_alarm, "
                                 f"got {status!r}")
        if camera:
            q = q.where(events.c.camera_id == camera)
        if rule:
            q = q.where(events.c.rule == rule)
        if class_name:
            q = q.where(events.c.class_name == class_name)
        if incident:
            q = q.where(events.c.incident == incident)
        if since:
            q = q.where(events.c.capture_time >= since)
        if until:
            q = q.where(events.c.capture_time < until)
        if before is not None:
            t, eid = before
            q = q.where(sa.or_(events.c.capture_time < t,
                               sa.and_(events.c.capture_time == t, events.c.id < eid)))
        q = q.order_by(events.c.capture_time.desc(), events.c.id.desc()).limit(limit)
        with self._engine.connect() as c:
            return [_row_to_event(r._mapping) for r in c.execute(q)]

    def pending_clips(self, camera: str, detected_before: datetime,
                      limit: int = 100) -> list[Event]:
        """Events of ``camera`` still waiting for their clip, detected before the given time,
        oldest first (a worker that was killed or frozen left them)."""
        q = (sa.select(events).where(events.c.camera_id == camera,
                                     events.c.clip_status == "pending",
                                     events.c.detected_at < detected_before)
             .order_by(events.c.detected_at).limit(limit))
        with self._engine.connect() as c:
            return [_row_to_event(r._mapping) for r in c.execute(q)]

    # -- acknowledgements ----------------------------------------------------------------------

    def acknowledge(self, event_id: str, operator: str, verdict: str,
                    note: str | None = None, messages: AckMessages | None = None
                    ) -> dict[str, Any]:
        """An operator's verdict on an event: ``confirmed`` or ``false_alarm``; returns the
        acknowledgement (id, event_id, operator, verdict, note, at). ``messages`` makes its
        outbox rows (the platform hears of it) from the acknowledgement and the event, in the
        same transaction."""
        if verdict not in ("confirmed", "false_alarm"):
            raise ValueError(f"verdict must be confirmed or false_alarm, got {verdict!r}")
        with self._tx() as c:
            row = c.execute(sa.select(events).where(events.c.id == event_id)).first()
            if row is None:
                raise UnknownEvent(f"no event {event_id!r}")
            ack: dict[str, Any] = {"event_id": event_id, "operator": operator,
                                   "verdict": verdict, "note": note, "at": datetime.now(UTC)}
            key = c.execute(acknowledgements.insert().values(**ack)).inserted_primary_key
            ack["id"] = int(key[0]) if key else 0
            if messages is not None:
                self._enqueue(c, event_id, messages(ack, _row_to_event(row._mapping)))
        return ack

    def verdicts(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The latest acknowledgement of each of the events that has one."""
        if not event_ids:
            return {}
        with self._engine.connect() as c:
            rows = c.execute(sa.select(acknowledgements)
                             .where(acknowledgements.c.event_id.in_(list(event_ids)))
                             .order_by(acknowledgements.c.id))
            return {r.event_id: _ack(r._mapping) for r in rows}

    def acknowledgements_after(self, ack_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """Acknowledgements newer than ``ack_id`` (0: from the first), oldest first."""
        with self._engine.connect() as c:
            rows = c.execute(sa.select(acknowledgements).where(acknowledgements.c.id > ack_id)
                             .order_by(acknowledgements.c.id).limit(limit))
            return [_ack(r._mapping) for r in rows]

    def last_acknowledgement_id(self) -> int:
        with self._engine.connect() as c:
            return int(c.execute(sa.select(sa.func.max(acknowledgements.c.id))).scalar() or 0)

    def detected_since(self, since: datetime, limit: int = 500) -> list[Event]:
        """Events detected at or after ``since``, oldest first (what a live feed shows)."""
        q = (sa.select(events).where(events.c.detected_at >= since)
             .order_by(events.c.detected_at, events.c.id).limit(limit))
        with self._engine.connect() as c:
            return [_row_to_event(r._mapping) for r in c.execute(q)]

    def verdict_counts(self, since: datetime, until: datetime | None = None
                       ) -> list[dict[str, Any]]:
        """Per camera, rule and UTC day of capture: events, confirmed and false alarms (the
        latest verdict of each event counts), the busiest first."""
        latest = (sa.select(acknowledgements.c.verdict)
                  .where(acknowledgements.c.event_id == events.c.id)
                  .order_by(acknowledgements.c.id.desc()).limit(1).scalar_subquery())
        q = sa.select(events.c.camera_id, events.c.rule, events.c.capture_time,
                      latest.label("verdict")).where(events.c.capture_time >= since)
        if until is not None:
            q = q.where(events.c.capture_time < until)
        counts: dict[tuple[str, str, str], dict[str, Any]] = {}
        with self._engine.connect() as c:
            for r in c.execute(q):
                day = _aware(r.capture_time).astimezone(UTC).date().isoformat()
                row = counts.setdefault((r.camera_id, r.rule, day), {
                    "camera": r.camera_id, "rule": r.rule, "day": day, "events": 0,
                    "confirmed": 0, "false_alarms": 0})
                row["events"] += 1
                if r.verdict == "confirmed":
                    row["confirmed"] += 1
                elif r.verdict == "false_alarm":
                    row["false_alarms"] += 1
        return sorted(counts.values(), key=lambda x: (x["day"], x["camera"], x["rule"]))

    def acknowledgements(self, event_id: str) -> list[dict[str, Any]]:
        """The verdicts on an event, oldest first."""
        with self._engine.connect() as c:
            rows = c.execute(sa.select(acknowledgements).where(
                acknowledgements.c.event_id == event_id).order_by(acknowledgements.c.id))
            return [_ack(r._mapping) for r in rows]

    # -- outbox and deliveries -------------------------------------------------------------------

    def outbox_pending(self, limit: int) -> list[Any]:
        """Messages not yet confirmed by the broker, oldest first (rows with id, event_id,
        kind, routing_key, payload)."""
        with self._engine.connect() as c:
            return list(c.execute(sa.select(outbox).where(outbox.c.published_at.is_(None))
                                  .order_by(outbox.c.id).limit(limit)))

    def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Messages not yet confirmed by the broker, and when the oldest was written."""
        with self._engine.connect() as c:
            n, oldest = c.execute(sa.select(sa.func.count(), sa.func.min(outbox.c.created_at))
                                  .where(outbox.c.published_at.is_(None))).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite keeps no zone: stored UTC
            oldest = oldest.replace(tzinfo=UTC)
        return int(n), oldest

    def mark_published(self, ids: list[int]) -> None:
        with self._tx() as c:
            c.execute(outbox.update().where(outbox.c.id.in_(ids))
                      .values(published_at=datetime.now(UTC)))

    def delivered(self, event_id: str, kind: str, target: str) -> bool:
        with self._engine.connect() as c:
            return c.execute(sa.select(deliveries.c.event_id).where(
                deliveries.c.event_id == event_id, deliveries.c.kind == kind,
                deliveries.c.target == target)).first() is not None

    def record_delivered(self, done: Sequence[tuple[str, str, int]], target: str) -> None:
        """(event id, kind, attempts) delivered to ``target``; repeats are ignored."""
        now = datetime.now(UTC)
        with self._tx() as c:
            for event_id, kind, attempts in done:
                exists = c.execute(sa.select(deliveries.c.event_id).where(
                    deliveries.c.event_id == event_id, deliveries.c.kind == kind,
                    deliveries.c.target == target)).first()
                if exists is None:
                    c.execute(deliveries.insert().values(event_id=event_id, kind=kind,
                                                         target=target, attempts=attempts,
                                                         delivered_at=now))

    # -- retention -------------------------------------------------------------------------------

    def expire(self, before: datetime, limit: int) -> list[tuple[str | None, str | None]]:
        """Delete up to ``limit`` events captured before ``before``, with their outbox,
        delivery and acknowledgement rows, in one transaction; returns their evidence
        paths (snapshot, clip) for the caller to remove once the rows are gone."""
        with self._tx() as c:
            rows = c.execute(sa.select(events.c.id, events.c.snapshot_path, events.c.clip_path)
                             .where(events.c.capture_time < before).limit(limit)).all()
            if rows:
                ids = [r.id for r in rows]
                for table in (outbox, deliveries, acknowledgements):
                    c.execute(table.delete().where(table.c.event_id.in_(ids)))
                c.execute(events.delete().where(events.c.id.in_(ids)))
        return [(r.snapshot_path, r.clip_path) for r in rows]

    # -- users, API tokens, sessions -----------------------------------------------------------

    def put_user(self, name: str, password_hash: str, role: str) -> bool:
        """Add a user or replace its password and role; True when it is new."""
        with self._tx() as c:
            done = c.execute(users.update().where(users.c.name == name)
                             .values(password_hash=password_hash, role=role)).rowcount
            if not done:
                c.execute(users.insert().values(name=name, password_hash=password_hash,
                                                role=role, created_at=datetime.now(UTC)))
            return not done

    def user(self, name: str) -> dict[str, Any] | None:
        with self._engine.connect() as c:
            row = c.execute(sa.select(users).where(users.c.name == name)).first()
        return dict(row._mapping) if row else None

    def add_token(self, token_hash: str, user: str, label: str,
                  expires_at: datetime | None) -> None:
        with self._tx() as c:
            c.execute(api_tokens.insert().values(token_hash=token_hash, user_name=user,
                                                 label=label, created_at=datetime.now(UTC),
                                                 expires_at=expires_at))

    def token_user(self, token_hash: str) -> dict[str, Any] | None:
        """The user of an API token that has not expired."""
        now = datetime.now(UTC)
        with self._engine.connect() as c:
            row = c.execute(sa.select(users.c.name, users.c.role)
                            .join(api_tokens, api_tokens.c.user_name == users.c.name)
                            .where(api_tokens.c.token_hash == token_hash,
                                   sa.or_(api_tokens.c.expires_at.is_(None),
                                          api_tokens.c.expires_at > now))).first()
        return dict(row._mapping) if row else None

    def add_session(self, session_hash: str, user: str, csrf: str, expires_at: datetime) -> None:
        with self._tx() as c:
            c.execute(sessions.delete().where(sessions.c.expires_at < datetime.now(UTC)))
            c.execute(sessions.insert().values(session_hash=session_hash, user_name=user,
                                               csrf=csrf, expires_at=expires_at))

    def session_user(self, session_hash: str) -> dict[str, Any] | None:
        """The user (name, role) and CSRF token of a live session."""
        with self._engine.connect() as c:
            row = c.execute(sa.select(users.c.name, users.c.role, sessions.c.csrf)
                            .join(sessions, sessions.c.user_name == users.c.name)
                            .where(sessions.c.session_hash == session_hash,
                                   sessions.c.expires_at > datetime.now(UTC))).first()
        return dict(row._mapping) if row else None

    def end_session(self, session_hash: str) -> None:
        with self._tx() as c:
            c.execute(sessions.delete().where(sessions.c.session_hash == session_hash))

    def ping(self) -> None:
        """Raises ``StoreError`` when the database does not answer."""
        try:
            with self._engine.connect() as c:
                c.execute(sa.text("select 1"))
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(str(e)) from None

    def get(self, event_id: str) -> Event | None:
        with self._engine.connect() as c:
            row = c.execute(sa.select(events).where(events.c.id == event_id)).first()
        return _row_to_event(row._mapping) if row else None

    def close(self) -> None:
        self._engine.dispose()


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _ack(r: Any) -> dict[str, Any]:
    return {"id": int(r["id"]), "event_id": r["event_id"], "operator": r["operator"],
            "verdict": r["verdict"], "note": r["note"], "at": _aware(r["at"])}


def _row_to_event(r: Any) -> Event:
    return Event(
        id=r["id"], camera=r["camera_id"], rule=r["rule"], rule_kind=r["rule_kind"],
        direction=r["direction"], track_id=r["track_id"], class_id=r["class_id"],
        class_name=r["class_name"], score=r["score"], box=list(r["box"]),
        trajectory=list(r["trajectory"]), video_time=r["video_time"],
        capture_time=_aware(r["capture_time"]), detected_at=_aware(r["detected_at"]),
        snapshot=r["snapshot_path"], clip=r["clip_path"], clip_status=r["clip_status"],
        fence_token=r["fence_token"], point=r["point"],
        site=None if r["site_x"] is None else [r["site_x"], r["site_y"]],
        incident=r["incident"])


def _stale(camera: str, token: int, newest: int) -> StaleFenceError:
    return StaleFenceError(f"camera {camera!r}: lease token {token} is stale (newest "
                           f"{newest}); write refused")
