"""Stores attachment bytes on disk by content hash, after checking type and size.

Every photo is decoded and encoded again before it is stored, without its metadata: a
phone's EXIF block carries the camera owner's name, the device and the GPS position, and a
whistle-blower's photo goes to the department they report. The orientation EXIF gave is
applied to the pixels first, so the photo still shows upright.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 80_000_000  # a phone's 50 MP photo passes; a decompression bomb does not
JPEG_QUALITY = 90

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
        data = without_metadata(data)
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / digest[:2] / f"{digest}.{extension}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return StoredFile(str(path), digest, len(data), mime)


def without_metadata(data: bytes) -> bytes:
    """The image encoded again in its own format, upright, with no EXIF, GPS, XMP or
    comments; FileRejected("type") if it does not decode, ("size") if it is too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise FileRejected("size")
                image_format = image.format
                frames = getattr(image, "n_frames", 1)
                if image_format == "GIF" and frames > 1:
                    return _encode(image, image_format, save_all=True)  # animated: as it is
                upright = ImageOps.exif_transpose(image)
                return _encode(upright, image_format or "PNG")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise FileRejected("type") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise FileRejected("size") from error


def _encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    if image_format == "JPEG":
        rgb = image if image.mode in ("RGB", "L", "CMYK") else image.convert("RGB")
        rgb.save(
            out, "JPEG", quality=JPEG_QUALITY, exif=b"", icc_profile=image.info.get("icc_profile")
        )
    else:
        image.save(out, image_format, **options)
    return out.getvalue()
