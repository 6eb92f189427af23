"""Regenerate the Exim DSN goldens (run by hand, once; the tests never need Exim).

Needs Debian's exim4 configured as a smarthost to 127.0.0.1::2526 with scaisend.test local (see
tests/data/inbound/README.md). The catcher below plays both the smarthost and the remote MX:
it refuses RCPT for remote.test (550 5.1.1) and keeps the DSNs Exim sends to our VERP addresses.
Usage: PYTHONPATH=. .venv/bin/python tests/data/inbound/make_exim_goldens.py OUTDIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from scaisend_core.verp import Verp
from tests.fixtures.environment import TEST_SECRET_KEY
from tests.smtp.inbound.goldens import BOUNCE_HOST, EXIM, original


class SmarthostAndMx:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.endswith("@remote.test"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        name = f"caught_{self.count:02d}_{'_'.join(envelope.rcpt_tos)}.eml"
        (self.out / name).write_bytes(envelope.original_content)
        return "250 OK"


async def main(out: Path) -> None:
    verp = Verp(TEST_SECRET_KEY)
    catcher = Controller(SmarthostAndMx(out), hostname="127.0.0.1", port=2526)
    catcher.start()
    try:
        for case in EXIM.values():
            to = [r.email for r in case.recipients]
            msg = original(case)
            sender = verp.address(case.verp_id, BOUNCE_HOST)
            proc = await asyncio.create_subprocess_exec(
                "exim4", "-odi", "-f", sender, *to, stdin=asyncio.subprocess.PIPE
            )
            await proc.communicate(msg.as_bytes())
        await asyncio.sleep(5)
    finally:
        catcher.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
