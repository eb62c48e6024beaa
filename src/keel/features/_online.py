"""Online stores: the latest feature vector per entity and view, for lookups at serving time.

Two stores keep the same data: the embedded SQLite store (``.keel/online.db``, WAL, one
``WITHOUT ROWID`` table per view) and Redis (one hash per view), chosen by ``keel.toml``
``[features] online``. A view's rows are written whole in one step that replaces the previous
snapshot atomically (one SQLite transaction; a Redis ``RENAME`` in a ``MULTI``), so a
materialization killed halfway leaves the previous snapshot readable.

A row is the entity key as a JSON object (``{"applicant_id":17}``) -> the feature vector as a
JSON object whose fields are the features' positions in the view (``"0"``, ``"1"``...; short
to decode) and ``"e"``, the winning row's event time in microseconds, which lets a reader
apply the TTL at read time. A record of the view's features (in the materialization) says
which position is which; values are decoded by orjson when it is installed. Polars encodes
the rows (one vectorized pass) and Python's ``json`` the keys of a lookup, to the same text.
Each view's materialization (as-of time, fingerprint, rows, features) is recorded next to its
rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from keel.errors import KeelError, MissingDependencyError, UsageError

if TYPE_CHECKING:
    from keel.config import Config

__all__ = [
    "EVENT_FIELD",
    "Materialization",
    "OnlineStore",
    "OnlineStoreUnavailableError",
    "RedisStore",
    "SqliteStore",
    "decode_row",
    "encode_key",
    "open_online_store",
]


class OnlineStoreUnavailableError(KeelError):
    """The online store cannot be reached (server down, wrong URL, unreadable file)."""


@dataclass(frozen=True)
class Materialization:
    """One view's snapshot in the online store: as of when, of which definition and data."""

    view: str
    as_of: dt.datetime
    """The instant the snapshot holds the latest values for (UTC)."""
    fingerprint: str
    rows: int
    written: dt.datetime
    features: tuple[str, ...] = ()
    """The view's features, in the order of the stored positions."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "as_of": self.as_of.isoformat(),
            "fingerprint": self.fingerprint,
            "rows": self.rows,
            "written": self.written.isoformat(),
            "features": list(self.features),
        }

    @classmethod
    def from_json(cls, text: str | bytes) -> Materialization:
        data = json.loads(text)
        return cls(
            view=data["view"],
            as_of=dt.datetime.fromisoformat(data["as_of"]),
            fingerprint=data["fingerprint"],
            rows=int(data["rows"]),
            written=dt.datetime.fromisoformat(data["written"]),
            features=tuple(data.get("features", ())),
        )


class OnlineStore(Protocol):
    """Where materialized feature vectors live (see the module's docstring)."""

    url: str

    def write(self, meta: Materialization, rows: Iterable[tuple[str, str]]) -> None:
        """Replace view ``meta.view``'s rows (encoded key, encoded row) and record ``meta``."""

    def read(self, view: str, keys: Sequence[str]) -> list[str | bytes | None]:
        """The encoded rows of ``keys`` (``None`` where absent), in order."""

    def read_views(
        self, requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[str | bytes | None]]:
        """:meth:`read` of several views, in one query or round trip where the store can."""

    def materialization(self, view: str) -> Materialization | None:
        """The view's last recorded materialization (``None``: never materialized)."""

    def close(self) -> None: ...


EVENT_FIELD = "e"
"""The field of a stored vector that holds its event time (microseconds since the epoch)."""


def encode_key(names: Sequence[str], values: Sequence[Any]) -> str:
    """An entity's key values (int, str or bool) as the store's key text: the same text as
    Polars' ``struct.json_encode`` of the key columns gives."""
    return json.dumps(
        dict(zip(names, values, strict=True)), separators=_COMPACT, ensure_ascii=False
    )


_COMPACT = (",", ":")


def _decoder() -> Callable[[str | bytes], Any]:
    try:
        import orjson
    except ImportError:  # the serve extra brings it; json gives the same values, slower
        return json.loads
    return orjson.loads


decode_row: Callable[[str | bytes], dict[str, Any]] = _decoder()
"""The stored vector: ``EVENT_FIELD`` and the features by position (temporal values as ISO
text)."""


class _Recent:
    """Materialization records read in the last second: a lookup reads its views' records on
    every request, and a record changes only when a materialization completes (this store's
    own writes clear it at once; another process's show within a second)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self._seconds = seconds
        self._found: dict[str, tuple[float, Materialization | None]] = {}

    def get(
        self, view: str, read: Callable[[str], Materialization | None]
    ) -> Materialization | None:
        now = time.monotonic()
        found = self._found.get(view)
        if found is not None and now - found[0] < self._seconds:
            return found[1]
        meta = read(view)
        self._found[view] = (now, meta)
        return meta

    def clear(self) -> None:
        self._found.clear()


_ONE_QUERY = 200
"""Lookups of up to this many keys per view go in one statement for all views (SQLite's
limit on a statement's parameters is far above this times a service's views)."""


def _table(view: str) -> str:
    return '"features__' + view.replace('"', '""') + '"'


class SqliteStore:
    """The embedded online store: one SQLite file in WAL mode, one table per view."""

    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS materializations (view TEXT PRIMARY KEY, meta TEXT)"
            )
        except (sqlite3.Error, OSError) as exc:
            raise OnlineStoreUnavailableError(
                f"the online store {path} cannot be opened: {exc}.",
                hint="Check that the folder is writable, or set [features] online in keel.toml.",
            ) from exc
        self._queries: dict[tuple[str, int], str] = {}
        self._unions: dict[tuple[tuple[str, int], ...], str] = {}
        self._known = _Recent()

    def write(self, meta: Materialization, rows: Iterable[tuple[str, str]]) -> None:
        table = _table(meta.view)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute(f"CREATE TABLE {table} (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID")
            db.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)
            db.execute(
                "INSERT OR REPLACE INTO materializations VALUES (?, ?)",
                (meta.view, json.dumps(meta.to_dict())),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            self._known.clear()

    def _query(self, view: str, count: int) -> str:
        found = self._queries.get((view, count))
        if found is None:
            if count == 1:
                found = f"SELECT k, v FROM {_table(view)} WHERE k = ?"
            else:
                marks = ",".join("?" * count)
                found = f"SELECT k, v FROM {_table(view)} WHERE k IN ({marks})"
            self._queries[(view, count)] = found
        return found

    def read(self, view: str, keys: Sequence[str]) -> list[str | bytes | None]:
        unique = list(dict.fromkeys(keys)) if len(keys) > 1 else keys
        try:
            # sqlite3 keeps compiled statements in its cache: the same text is prepared once
            found = dict(self._db.execute(self._query(view, len(unique)), unique).fetchall())
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return [None] * len(keys)
            raise OnlineStoreUnavailableError(
                f"the online store {self.path} cannot be read: {exc}.",
                hint="Run keel features materialize again.",
            ) from exc
        return [found.get(k) for k in keys]

    def read_views(
        self, requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[str | bytes | None]]:
        if len(requests) == 1 or any(len(keys) > _ONE_QUERY for _, keys in requests):
            return [self.read(view, keys) for view, keys in requests]
        shape = tuple((view, len(keys)) for view, keys in requests)
        query = self._unions.get(shape)
        if query is None:  # one statement for every view: a UNION ALL of their lookups
            query = self._unions[shape] = " UNION ALL ".join(
                f"SELECT {i}, k, v FROM {_table(view)} WHERE k IN ({','.join('?' * count)})"
                for i, (view, count) in enumerate(shape)
            )
        try:
            rows = self._db.execute(query, [k for _, keys in requests for k in keys]).fetchall()
        except sqlite3.OperationalError:  # a table missing: each view on its own says which
            return [self.read(view, keys) for view, keys in requests]
        found: list[dict[str, str]] = [{} for _ in requests]
        for index, key, value in rows:
            found[index][key] = value
        return [[got.get(k) for k in keys] for got, (_, keys) in zip(found, requests, strict=True)]

    def materialization(self, view: str) -> Materialization | None:
        return self._known.get(view, self._materialization)

    def _materialization(self, view: str) -> Materialization | None:
        row = self._db.execute("SELECT meta FROM materializations WHERE view = ?", (view,))
        found = row.fetchone()
        return None if found is None else Materialization.from_json(found[0])

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


class RedisStore:
    """The online store on a Redis server: one hash per view (``PREFIX:VIEW``, the prefix
    ``keel:features`` by default) and one of materializations (``PREFIX:__materializations``)."""

    def __init__(self, url: str, *, prefix: str = "keel:features") -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingDependencyError(
                "redis", extra="redis", purpose="the Redis online store"
            ) from exc
        self.url = url
        self._prefix = prefix
        self._known = _Recent()
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self._client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
            self._client.ping()
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        except ValueError as exc:
            raise UsageError(
                f"[features] online = {url!r} is not a Redis URL ({exc}).",
                hint='Write it as online = "redis://HOST:6379/0".',
            ) from exc

    def _unavailable(self, exc: BaseException) -> OnlineStoreUnavailableError:
        return OnlineStoreUnavailableError(
            f"the Redis online store {self.url} cannot be reached: {exc}.",
            hint="Start the Redis server or fix [features] online in keel.toml "
            "(empty for the embedded SQLite store).",
        )

    def _key(self, view: str) -> str:
        return f"{self._prefix}:{view}"

    def write(self, meta: Materialization, rows: Iterable[tuple[str, str]]) -> None:
        live = self._key(view=meta.view)
        scratch = f"{live}:writing"
        try:
            self._client.delete(scratch)
            batch: dict[Any, Any] = {}
            for key, value in rows:
                batch[key] = value
                if len(batch) >= 5000:
                    self._client.hset(scratch, mapping=batch)
                    batch = {}
            if batch:
                self._client.hset(scratch, mapping=batch)
            with self._client.pipeline(transaction=True) as swap:
                if meta.rows:
                    swap.rename(scratch, live)
                else:
                    swap.delete(live)
                swap.hset(self._key("__materializations"), meta.view, json.dumps(meta.to_dict()))
                swap.execute()
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        finally:
            self._known.clear()

    def read(self, view: str, keys: Sequence[str]) -> list[str | bytes | None]:
        try:
            found: list[str | bytes | None] = self._client.hmget(self._key(view), list(keys))
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return list(found)

    def read_views(
        self, requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[str | bytes | None]]:
        try:
            with self._client.pipeline(transaction=False) as batch:  # one round trip
                for view, keys in requests:
                    batch.hmget(self._key(view), list(keys))
                found: list[list[str | bytes | None]] = batch.execute()
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return found

    def materialization(self, view: str) -> Materialization | None:
        return self._known.get(view, self._materialization)

    def _materialization(self, view: str) -> Materialization | None:
        try:
            found = self._client.hget(self._key("__materializations"), view)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return None if found is None else Materialization.from_json(found)

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self._client.close()


def open_online_store(config: Config) -> OnlineStore:
    """The online store ``keel.toml`` names (``[features] online``), SQLite by default."""
    url = config.features_online.strip()
    if not url:
        return SqliteStore(config.state_dir / "online.db")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    raise UsageError(
        f"[features] online = {url!r} is not an online store this Keel knows.",
        hint='Leave it empty for the embedded SQLite store, or use "redis://HOST:6379/0".',
    )
