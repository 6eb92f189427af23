"""The storage interface behaves the same on S3 (moto server) and on a local directory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scaisend_core.errors import ObjectNotFound, StorageError
from scaisend_core.storage import Storage


@pytest.fixture(params=["s3", "local"])
def storage(request: pytest.FixtureRequest, s3_storage: Storage, local_storage: Storage) -> Storage:
    return s3_storage if request.param == "s3" else local_storage


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_put_get_stream_delete(storage: Storage) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, several stream chunks
    assert await storage.put("attachments/t1/a.bin", payload) == len(payload)
    assert await storage.exists("attachments/t1/a.bin")
    assert await storage.get("attachments/t1/a.bin") == payload
    streamed = b"".join([chunk async for chunk in storage.stream("attachments/t1/a.bin")])
    assert streamed == payload
    await storage.delete("attachments/t1/a.bin")
    assert not await storage.exists("attachments/t1/a.bin")


async def test_put_accepts_a_stream(storage: Storage) -> None:
    payload = bytes(range(251)) * 80_000  # ~20 MB: three multipart parts on S3
    assert await storage.put("mime/m.eml", _chunks(payload, 1 << 20)) == len(payload)
    assert await storage.get("mime/m.eml") == payload


async def test_missing_object_raises_object_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        await storage.get("nope/missing")
    with pytest.raises(ObjectNotFound):
        _ = [chunk async for chunk in storage.stream("nope/missing")]


async def test_keys_lists_a_prefix_in_order_up_to_a_limit(storage: Storage) -> None:
    for key in ("inbound/pending/2026-11-29/b.eml", "inbound/pending/2026-11-28/a.eml",
                "inbound/pending/2026-11-29/c.eml", "inbound/2026-11-29/b.eml", "other/x"):  # fmt: skip
        await storage.put(key, b"x")
    assert await storage.keys("inbound/pending/") == [
        "inbound/pending/2026-11-28/a.eml",
        "inbound/pending/2026-11-29/b.eml",
        "inbound/pending/2026-11-29/c.eml",
    ]
    assert await storage.keys("inbound/pending/2026-11-29/", limit=1) == [
        "inbound/pending/2026-11-29/b.eml"
    ]
    await storage.delete("inbound/pending/2026-11-28/a.eml")
    assert len(await storage.keys("inbound/")) == 3
    assert await storage.keys("nothing/here/") == []


async def test_local_storage_refuses_keys_outside_its_root(local_storage: Storage) -> None:
    with pytest.raises(StorageError):
        await local_storage.put("../escape", b"x")
