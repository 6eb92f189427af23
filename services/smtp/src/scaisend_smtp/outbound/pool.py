"""SMTP connections to MX hosts, pooled per host: opened with EHLO and STARTTLS when offered,
reused across messages (RSET after an aborted transaction, NOOP after a quiet spell), closed
when idle too long or after enough transactions.

At most `size` connections per host are open in this process: a job waits for one of the host's
`size` slots, then takes the warmest idle connection or opens a new one, and gives both back
afterwards. Waiting for a slot is separate from taking its connection, so a caller can hold
other scarce things (a domain's shared lease) only while it has a slot, never while queued. A
slot given back with a baton (that lease) goes, baton and all, to the first job queued for the
same key (domain) among the first HEIR_REACH * `size` in line, unless the job at the head of the line has
already been passed over as many times."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiosmtplib

from scaisend_core.metrics import SMTP_POOL_SIZE

# Reply codes we synthesise for failures that never produced a server reply.
UNREACHABLE = 421
# How far down the line (in pool sizes) a slot given back with a baton looks for a job of the
# same key. The jobs of a host's domains queue interleaved: the nearest is rarely at the head.
HEIR_REACH = 8


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    ehlo_hostname: str
    connect_timeout: float
    command_timeout: float
    require_tls: bool = False
    verify_tls: bool = False
    implicit_tls: bool = False  # smarthost on port 465
    starttls: bool = True  # offer to upgrade when the server advertises STARTTLS
    username: str | None = None
    password: str | None = None


class ConnectFailure(Exception):
    """No usable session with a host. `code` is the server's reply (greeting/EHLO/AUTH) or
    UNREACHABLE; `backoff` says the host should be left alone for a while."""

    def __init__(self, host: str, code: int, reply: str, *, backoff: bool = False) -> None:
        super().__init__(f"{host}: {code} {reply}")
        self.host = host
        self.code = code
        self.reply = reply
        self.backoff = backoff

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600


@dataclass(slots=True)
class Connection:
    client: aiosmtplib.SMTP
    host: str
    address: str
    tls: bool
    opened_at: float
    last_used: float
    transactions: int = 0
    dirty: bool = False  # a transaction was left open: RSET before the next MAIL FROM
    broken: bool = False

    def supports(self, extension: str) -> bool:
        return self.client.supports_extension(extension)

    @property
    def size_limit(self) -> int | None:
        """SIZE advertised in EHLO (RFC 1870); 0 or absent means no fixed limit."""
        value = self.client.esmtp_extensions.get("size", "").strip()
        return int(value) if value.isdigit() and int(value) > 0 else None


class Connector:
    """Opens one ready-to-use session: greeting, EHLO, STARTTLS when offered, AUTH if asked."""

    def __init__(self, options: ConnectOptions, clock: Callable[[], float] = time.monotonic):
        self.options = options
        self._clock = clock
        self._tls = ssl.create_default_context()
        if not options.verify_tls:
            # Opportunistic TLS (RFC 7435): encrypt without authenticating the MX.
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE

    async def open(self, host: str, addresses: tuple[str, ...], port: int) -> Connection:
        failure: ConnectFailure | None = None
        for address in addresses:
            try:
                return await self._open(host, address, port, self.options.starttls)
            except ConnectFailure as exc:
                failure = exc
                if exc.code != UNREACHABLE:
                    break  # the host answered; another address of it will say the same
        assert failure is not None, "a host has at least one address"
        raise failure

    async def _open(self, host: str, address: str, port: int, starttls: bool) -> Connection:
        client = aiosmtplib.SMTP(
            hostname=address, port=port, local_hostname=self.options.ehlo_hostname,
            timeout=self.options.command_timeout, use_tls=self.options.implicit_tls,
            start_tls=False, tls_context=self._tls, validate_certs=self.options.verify_tls,
        )  # fmt: skip
        try:
            await client.connect(timeout=self.options.connect_timeout)
            await client.ehlo()
            tls = self.options.implicit_tls or await self._starttls(client, host, starttls)
            if self.options.username:
                await client.login(self.options.username, self.options.password or "")
        except _TlsUnavailable:
            client.close()
            return await self._open(host, address, port, starttls=False)
        except Exception as exc:
            client.close()
            raise _as_failure(host, exc) from exc
        now = self._clock()
        return Connection(client, host, address, tls, opened_at=now, last_used=now)

    async def _starttls(self, client: aiosmtplib.SMTP, host: str, wanted: bool) -> bool:
        if not (wanted and client.supports_extension("starttls")):
            if self.options.require_tls:
                reply = f"4.7.10 TLS is required by policy, but {host} does not offer STARTTLS"
                raise ConnectFailure(host, 451, reply)
            return False
        try:
            await client.starttls(server_hostname=host)
        except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
            if self.options.require_tls:
                raise ConnectFailure(
                    host, 451, f"4.7.10 STARTTLS with {host} failed: {exc}"
                ) from exc
            raise _TlsUnavailable from exc  # opportunistic: try again in clear text
        await client.ehlo()  # RFC 3207 §4.2: forget what we learned before TLS
        return True


class _TlsUnavailable(Exception):
    """STARTTLS was offered but failed and TLS is not required: reconnect in clear text."""


def _as_failure(host: str, exc: Exception) -> ConnectFailure:
    if isinstance(exc, ConnectFailure):
        return exc
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = exc.code if 400 <= exc.code < 600 else UNREACHABLE
        return ConnectFailure(host, code, exc.message, backoff=code == 421)
    # Refused, timed out, reset: a dead host. Leave it alone for a while (no retry storm).
    return ConnectFailure(host, UNREACHABLE, f"4.4.1 Connection to {host} failed: {exc}",
                          backoff=True)  # fmt: skip


@dataclass(slots=True)
class _Waiter:
    key: str | None
    turn: asyncio.Future[object | None]  # the baton handed over with the slot, if any
    passed: int = 0  # times a later job of another key got the slot first


@dataclass(slots=True)
class HostPool:
    free: int
    waiters: deque[_Waiter] = field(default_factory=deque)
    idle: list[Connection] = field(default_factory=list)
    open: int = 0


@dataclass(frozen=True, slots=True)
class PoolLimits:
    size: int
    idle_timeout: float
    max_transactions: int
    probe_after: float


class Pools:
    """Connection pools keyed by (MX host, port); one per SMTP process."""

    def __init__(
        self, connector: Connector, limits: PoolLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._connector = connector
        self._limits = limits
        self._clock = clock
        self._pools: dict[tuple[str, int], HostPool] = {}

    def _pool(self, host: str, port: int) -> HostPool:
        key = (host, port)
        if key not in self._pools:
            self._pools[key] = HostPool(self._limits.size)
        return self._pools[key]

    @contextlib.asynccontextmanager
    async def slot(
        self, host: str, port: int, key: str | None = None,
        drop: Callable[[object], Awaitable[None]] | None = None,
    ) -> AsyncIterator[Slot]:  # fmt: skip
        """Wait for one of the host's slots; its connection (if one was taken) is given back
        with it. `slot.baton` is what the previous holder handed over with the slot (else
        None); set it before leaving to hand it to the next job of the same `key`, and read
        `slot.handed_off` afterwards. A baton handed to a job cancelled meanwhile is passed on
        or given to `drop`."""
        pool = self._pool(host, port)
        slot = Slot(self, pool, host, port, baton=await self._enter(pool, key, drop))
        try:
            yield slot
        finally:
            try:  # a give-back's polite QUIT may be cancelled: the slot is freed all the same
                if slot.conn is not None:
                    await self._give_back(pool, slot.conn)
            finally:
                slot.handed_off = self._leave(pool, key, slot.baton)

    async def _enter(
        self, pool: HostPool, key: str | None, drop: Callable[[object], Awaitable[None]] | None
    ) -> object | None:
        if pool.free > 0 and not pool.waiters:
            pool.free -= 1
            return None
        waiter = _Waiter(key, asyncio.get_running_loop().create_future())
        pool.waiters.append(waiter)
        try:
            return await waiter.turn
        except asyncio.CancelledError:
            if not waiter.turn.done() or waiter.turn.cancelled():
                with contextlib.suppress(ValueError):  # _leave may have dropped it already
                    pool.waiters.remove(waiter)
            else:  # the slot was ours already: pass it on
                baton = waiter.turn.result()
                if not self._leave(pool, key, baton) and baton is not None and drop is not None:
                    await asyncio.shield(drop(baton))
            raise

    def _leave(self, pool: HostPool, key: str | None, baton: object | None) -> bool:
        """Give the slot to the next job (with the baton if one of the same key is near the
        head of the line) or back to the pool; True if the baton went with it."""
        heir = self._heir(pool, key) if baton is not None else None
        if heir is not None:
            pool.waiters.remove(heir)
            heir.turn.set_result(baton)
            return True
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.turn.done():
                waiter.turn.set_result(None)
                return False
        pool.free += 1
        return False

    def _heir(self, pool: HostPool, key: str | None) -> _Waiter | None:
        reach = HEIR_REACH * self._limits.size
        line = [w for w in itertools.islice(pool.waiters, reach) if not w.turn.done()]
        if not line or line[0].passed >= reach:
            return None
        for place, waiter in enumerate(line):
            if waiter.key == key:
                for earlier in line[:place]:
                    earlier.passed += 1
                return waiter
        return None

    @contextlib.asynccontextmanager
    async def lease(
        self, host: str, addresses: tuple[str, ...], port: int
    ) -> AsyncIterator[Connection]:
        async with self.slot(host, port) as slot:
            yield await slot.connection(addresses)

    async def _take(
        self, pool: HostPool, host: str, addresses: tuple[str, ...], port: int
    ) -> Connection:
        return await self._reuse(pool) or await self._open(pool, host, addresses, port)

    async def _open(
        self, pool: HostPool, host: str, addresses: tuple[str, ...], port: int
    ) -> Connection:
        conn = await self._connector.open(host, addresses, port)
        pool.open += 1
        SMTP_POOL_SIZE.labels(host).set(pool.open)
        return conn

    async def _reuse(self, pool: HostPool) -> Connection | None:
        while pool.idle:
            conn = pool.idle.pop()  # the most recently used: least likely to have timed out
            if await self._healthy(conn):
                return conn
            await self._close(pool, conn, polite=False)
        return None

    async def _healthy(self, conn: Connection) -> bool:
        now = self._clock()
        if now - conn.last_used > self._limits.idle_timeout or not conn.client.is_connected:
            return False
        try:
            if conn.dirty:
                await conn.client.rset()
                conn.dirty = False
            elif now - conn.last_used > self._limits.probe_after:
                await conn.client.noop()
        except (aiosmtplib.SMTPException, OSError):
            return False
        return True

    async def _give_back(self, pool: HostPool, conn: Connection) -> None:
        conn.last_used = self._clock()
        worn_out = conn.transactions >= self._limits.max_transactions
        if conn.broken or worn_out or not conn.client.is_connected:
            await self._close(pool, conn, polite=worn_out and not conn.broken)
        else:
            pool.idle.append(conn)

    async def _close(self, pool: HostPool, conn: Connection, *, polite: bool) -> None:
        pool.open -= 1
        SMTP_POOL_SIZE.labels(conn.host).set(pool.open)
        try:
            if polite and conn.client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await asyncio.wait_for(conn.client.quit(), timeout=5)
        finally:  # also when the QUIT is cancelled
            conn.client.close()

    async def close_idle(self) -> int:
        """Close connections idle longer than the timeout; returns how many were closed."""
        closed = 0
        now = self._clock()
        for pool in self._pools.values():
            stale = [c for c in pool.idle if now - c.last_used > self._limits.idle_timeout]
            for conn in stale:
                pool.idle.remove(conn)
                await self._close(pool, conn, polite=True)
                closed += 1
        return closed

    async def close_all(self) -> None:
        for pool in self._pools.values():
            while pool.idle:
                await self._close(pool, pool.idle.pop(), polite=True)

    def open_connections(self, host: str, port: int) -> int:
        return self._pools[(host, port)].open if (host, port) in self._pools else 0


@dataclass(slots=True)
class Slot:
    """A place in a host's pool, held by one job; `connection()` fills it."""

    pools: Pools
    pool: HostPool
    host: str
    port: int
    conn: Connection | None = None
    baton: object | None = None  # handed over with the slot; set to hand it on
    handed_off: bool = False

    async def connection(self, addresses: tuple[str, ...]) -> Connection:
        """The warmest idle connection, else a new one (ConnectFailure if none can be had)."""
        if self.conn is None:
            self.conn = await self.pools._take(self.pool, self.host, addresses, self.port)
        return self.conn
