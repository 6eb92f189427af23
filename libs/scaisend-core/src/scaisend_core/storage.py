"""Object storage behind one interface: S3 (aioboto3) in production, a local directory embedded."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aioboto3
from botocore.exceptions import ClientError

from scaisend_core.config import CoreSettings
from scaisend_core.errors import ObjectNotFound, StorageError

CHUNK_SIZE = 256 * 1024
MULTIPART_PART_SIZE = 8 * 1024 * 1024
Body = bytes | AsyncIterator[bytes]


class Storage(Protocol):
    async def put(self, key: str, body: Body, content_type: str = ...) -> int: ...
    async def get(self, key: str) -> bytes: ...
    def stream(self, key: str) -> AsyncIterator[bytes]: ...
    async def delete(self, key: str) -> None: ...
    async def exists(self, key: str) -> bool: ...
    async def keys(self, prefix: str, limit: int = ...) -> list[str]: ...


class LocalStorage:
    """Files under a root directory; writes go to a temp name then rename, so readers never
    see half a file.

    The file calls run on the event loop: on a local disk each is a page-cache copy of tens of
    microseconds, while a hop to a thread (and back, through the GIL) costs more CPU than the
    call itself and was a fifth of a worker's time per message."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._prefix = str(self.root) + os.sep

    def _path(self, key: str) -> Path:
        # normpath folds `..` without the per-component lstat of Path.resolve(); keys are ours
        # (no symlinks are made under the root), so lexical containment is the check needed.
        path = os.path.normpath(os.path.join(self._prefix, key))
        if not path.startswith(self._prefix):
            raise StorageError(f"invalid storage key {key!r}")
        return Path(path)

    async def put(
        self, key: str, body: Body, content_type: str = "application/octet-stream"
    ) -> int:
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            fh = open(tmp, "wb")  # noqa: SIM115, ASYNC230 - see the class docstring
        except FileNotFoundError:  # the key's directory does not exist yet
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(tmp, "wb")  # noqa: SIM115, ASYNC230
        size = 0
        with fh:
            if isinstance(body, bytes):
                fh.write(body)
                size = len(body)
            else:
                async for chunk in body:
                    fh.write(chunk)
                    size += len(chunk)
        os.replace(tmp, path)
        return size

    async def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        try:
            fh = open(self._path(key), "rb")  # noqa: SIM115, ASYNC230 - see the class docstring
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        with fh:
            while chunk := fh.read(CHUNK_SIZE):
                yield chunk

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        """Up to `limit` keys starting with `prefix`, in key order (as S3 lists them)."""
        return await asyncio.to_thread(self._keys, prefix, limit)

    def _keys(self, prefix: str, limit: int) -> list[str]:
        # Walk only the directory the prefix names; in-flight ".name.<uuid>.tmp" files are
        # not objects yet.
        directory = self._path(prefix.rpartition("/")[0] or ".")
        found = []
        for path in directory.rglob("*") if directory.is_dir() else ():
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                found.append(key)
        return sorted(found)[:limit]


class S3Storage:
    """An S3 bucket through one long-lived aioboto3 client (owned by the caller's lifespan).

    Streams upload in multipart chunks, so a large attachment is never held whole in memory."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    async def put(
        self, key: str, body: Body, content_type: str = "application/octet-stream"
    ) -> int:
        try:
            if isinstance(body, bytes):
                await self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
                )
                return len(body)
            return await self._put_multipart(key, body, content_type)
        except ClientError as exc:
            raise StorageError(f"S3 put {key}: {exc}") from exc

    async def _put_multipart(self, key: str, body: AsyncIterator[bytes], content_type: str) -> int:
        upload = await self._client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            async for part in _rechunk(body, MULTIPART_PART_SIZE):
                number = len(parts) + 1
                sent = await self._client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
                )
                parts.append({"PartNumber": number, "ETag": sent["ETag"]})
                size += len(part)
            if not parts:  # an empty stream still makes an (empty) object
                sent = await self._client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b""
                )
                parts.append({"PartNumber": 1, "ETag": sent["ETag"]})
            await self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            await self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            raise
        return size

    async def get(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(key)])

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        try:
            response = await self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise ObjectNotFound(key) from exc
            raise StorageError(f"S3 get {key}: {exc}") from exc
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(CHUNK_SIZE):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        try:
            await self._client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise StorageError(f"S3 delete {key}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        try:
            await self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise StorageError(f"S3 head {key}: {exc}") from exc
        return True

    async def keys(self, prefix: str, limit: int = 1000) -> list[str]:
        """Up to `limit` keys starting with `prefix`, in key order."""
        found: list[str] = []
        token: dict[str, str] = {}
        try:
            while len(found) < limit:
                page = await self._client.list_objects_v2(
                    Bucket=self.bucket, Prefix=prefix, MaxKeys=min(1000, limit - len(found)),
                    **token,
                )  # fmt: skip
                found += [item["Key"] for item in page.get("Contents", [])]
                if not page.get("IsTruncated"):
                    break
                token = {"ContinuationToken": page["NextContinuationToken"]}
        except ClientError as exc:
            raise StorageError(f"S3 list {prefix}: {exc}") from exc
        return found[:limit]


async def _rechunk(body: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """S3 parts must be at least 5 MiB (except the last); regroup whatever the caller yields."""
    buffer = bytearray()
    async for chunk in body:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


@asynccontextmanager
async def open_storage(settings: CoreSettings) -> AsyncIterator[Storage]:
    """The configured backend for the lifetime of a process (S3 wins when a bucket is set)."""
    if not settings.s3_bucket:
        assert settings.storage_dir is not None
        yield LocalStorage(settings.storage_dir)
        return
    session = aioboto3.Session(
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=(
            settings.s3_secret_access_key.get_secret_value()
            if settings.s3_secret_access_key
            else None
        ),
        region_name=settings.s3_region,
    )
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            session.client("s3", endpoint_url=settings.s3_endpoint_url)
        )
        yield S3Storage(client, settings.s3_bucket)
