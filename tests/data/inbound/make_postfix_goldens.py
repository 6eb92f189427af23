"""Regenerate the Postfix DSN goldens (run by hand, once; the tests never need Postfix).

Needs a local Postfix configured as in tests/data/inbound/README.md: it listens on
127.0.0.1:2525, routes bounces.scaisend.test to 127.0.0.1:2526 (the catcher below),
remote.test to 127.0.0.1:2527 (an MX below that refuses after DATA) and slow.test to a dead port.
Usage: PYTHONPATH=. .venv/bin/python tests/data/inbound/make_postfix_goldens.py OUTDIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller

from scaisend_core.verp import Verp
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.smtp.inbound.goldens import BOUNCE_HOST, POSTFIX, original


class Catcher:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        name = f"caught_{self.count:02d}_{'_'.join(envelope.rcpt_tos)}.eml"
        (self.out / name).write_bytes(envelope.original_content)
        return "250 OK"


class RefusingMx:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "550 5.7.1 Message rejected due to content restrictions (policy)"


async def main(out: Path) -> None:
    verp = Verp(TEST_SECRET_KEY)
    catcher = Controller(Catcher(out), hostname="127.0.0.1", port=2526)
    mx = Controller(RefusingMx(), hostname="127.0.0.1", port=2527)
    catcher.start()
    mx.start()
    try:
        for case in POSTFIX.values():
            return_path = verp.address(case.verp_id, BOUNCE_HOST)
            to = [r.email for r in case.recipients]
            await aiosmtplib.send(
                original(case),
                hostname="127.0.0.1", port=2525, sender=return_path, recipients=to,
            )  # fmt: skip
        await asyncio.sleep(90)  # delay warnings, then expiry of the slow.test message
    finally:
        catcher.stop()
        mx.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
