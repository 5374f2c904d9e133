"""Stores attachment bytes on disk by content hash, after checking type and size."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

# Leading bytes of the image formats residents' phones send.
IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


class FileRejected(Exception):
    """The bytes are not an acceptable image; `reason` is 'type', 'size' or 'empty'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StoredFile:
    path: str
    sha256: str
    size: int
    mime: str


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """(mime, extension) of an image recognised by its content, or None."""
    for signature, mime, extension in IMAGE_SIGNATURES:
        if data.startswith(signature):
            return mime, extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


class FileStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def store_image(self, data: bytes) -> StoredFile:
        if not data:
            raise FileRejected("empty")
        if len(data) > self.max_bytes:
            raise FileRejected("size")
        kind = sniff_image(data)
        if kind is None:
            raise FileRejected("type")
        mime, extension = kind
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / digest[:2] / f"{digest}.{extension}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return StoredFile(str(path), digest, len(data), mime)
