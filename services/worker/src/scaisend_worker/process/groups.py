"""Group commit for process_message jobs: the jobs arq runs at the same time hand their message
ids to one drainer, which takes whatever has gathered and sends it through the pipeline's
steps together (`process_group`); each job waits for its own outcome, or gets its own exception.

No waiting for company: while one group is in the database or rendering, arq starts the next
jobs, and they form the next group. Under load the round trips to MariaDB and Redis (a dozen
per message alone) are shared by the group; a lone job is a group of one."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

from scaisend_worker.context import WorkerContext
from scaisend_worker.process.pipeline import Outcome, process_group

MAX_GROUP = 32
LINGER = 0.002  # seconds; next to a group's ~50 ms of rendering


class MessageGroups:
    def __init__(
        self, app: WorkerContext, max_group: int = MAX_GROUP, linger: float = LINGER
    ) -> None:
        self._app = app
        self._max_group = max_group
        self._linger = linger
        self._pending: list[tuple[str, asyncio.Future[Outcome]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, message_id: str) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((message_id, future))
        if self._drainer is None or self._drainer.done():
            # A fresh context: the drainer serves every job, not the log context of the first.
            self._drainer = asyncio.create_task(
                self._drain(), name="process-message-groups", context=contextvars.Context()
            )
        # A job cancelled while it waits (shutdown) does not cancel the group it is in.
        return await asyncio.shield(future)

    async def close(self) -> None:
        """At shutdown every job has ended or was cancelled (after WORKER_SHUTDOWN_TIMEOUT), so
        a group still in hand belongs to cancelled jobs: it is cancelled like their own work
        was before groups, its transaction rolled back and its messages left for arq's retry
        or the reconciler."""
        drainer, self._drainer = self._drainer, None
        if drainer is None:
            return
        drainer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await drainer

    async def _drain(self) -> None:
        # Jobs arq started together reach here a Redis round trip apart: wait that long.
        await asyncio.sleep(self._linger)
        while self._pending:
            group = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            try:
                results = await process_group(self._app, [message_id for message_id, _ in group])
            except Exception as exc:  # process_group answers per message; this is a bug
                results = [exc] * len(group)
            for (_, future), result in zip(group, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
