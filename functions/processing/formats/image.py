"""Images: decode and validate with Pillow, EXIF, a thumbnail, a model-sized copy and the copy OCR reads.

OCR reads the picture at its own resolution, losslessly (PNG), turned upright by its EXIF
orientation: the model-sized JPEG's downscaling and compression blur small glyphs (an English
and Korean PNG: 80 % of its words OCR'd from the JPEG copy, 100 % from the original).
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from functions.common.errors import InvalidObjectError

# Decompression-bomb guard: a small file can declare a gigantic canvas. Pillow warns above
# MAX_IMAGE_PIXELS and raises above twice that; we refuse anything above the limit before
# decoding. https://pillow.readthedocs.io/en/stable/reference/Image.html#PIL.Image.open
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
THUMBNAIL_SIDE = 256
MODEL_SIDE = 1600  # what the captioning and embedding models see; keeps model requests small
# The OCR copy keeps the original's pixels up to this side (a 300 dpi A3 scan is 4961 px);
# only larger pictures are scaled down, still losslessly.
OCR_MAX_SIDE = 5000
_EXIF_VALUE_CHARS = 200


@dataclass
class ImageExtract:
    format: str
    width: int
    height: int
    mode: str
    frames: int
    exif: dict[str, Any] = field(default_factory=dict)
    thumbnail_jpeg: bytes = b""
    model_jpeg: bytes = b""
    ocr_png: bytes = b""  # upright, lossless, the original's resolution up to OCR_MAX_SIDE

    def metadata(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "frames": self.frames,
            "exif": self.exif,
        }


def open_image(source: Path | bytes) -> Image.Image:
    """Open, verify and fully decode an image. Raises InvalidObjectError with the reason."""
    opener = (lambda: Image.open(io.BytesIO(source))) if isinstance(source, bytes) else (lambda: Image.open(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with opener() as probe:
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise InvalidObjectError(
                        f"image is {width}x{height} pixels, above the {MAX_PIXELS} pixel limit (decompression bomb?)"
                    )
                probe.verify()  # structure and checksums, without decoding
            image = opener()
            image.load()  # a truncated file fails here ("image file is truncated")
            return image
    except InvalidObjectError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidObjectError(f"image refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidObjectError("not a decodable image (unknown or corrupt format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidObjectError(f"corrupt or truncated image: {exc}") from exc


def exif_dict(image: Image.Image) -> dict[str, Any]:
    """Base-IFD EXIF tags by name, values as short strings or numbers."""
    result: dict[str, Any] = {}
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - malformed EXIF must not fail the image
        return result
    for tag, value in exif.items():
        name = ExifTags.TAGS.get(tag, f"tag_{tag}")
        if isinstance(value, bytes):
            continue  # MakerNote and friends: opaque blobs
        if isinstance(value, (int, float)):
            result[name] = value
        else:
            result[name] = str(value)[:_EXIF_VALUE_CHARS]
    return result


def to_jpeg(image: Image.Image, max_side: int, quality: int = 88) -> bytes:
    copy = image.copy()
    copy.thumbnail((max_side, max_side))
    if copy.mode not in ("RGB", "L"):
        copy = copy.convert("RGBA") if "A" in copy.mode or copy.mode == "P" else copy.convert("RGB")
        if copy.mode == "RGBA":
            background = Image.new("RGB", copy.size, (255, 255, 255))
            background.paste(copy, mask=copy.split()[-1])
            copy = background
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=quality)
    return out.getvalue()


def to_png(image: Image.Image, max_side: int) -> bytes:
    """A lossless PNG of `image` (transparency flattened onto white), scaled down only above
    `max_side`."""
    copy = image if max(image.size) <= max_side else image.copy()
    if copy is not image:
        copy.thumbnail((max_side, max_side))
    if copy.mode not in ("RGB", "L"):
        rgba = copy.convert("RGBA")
        copy = Image.new("RGB", rgba.size, (255, 255, 255))
        copy.paste(rgba, mask=rgba.split()[-1])
    out = io.BytesIO()
    copy.save(out, "PNG")
    return out.getvalue()


def extract_image(source: Path | bytes) -> ImageExtract:
    """Validate the image and prepare its derivatives. Raises InvalidObjectError."""
    image = open_image(source)
    try:
        fmt = (image.format or "unknown").lower()
        frames = int(getattr(image, "n_frames", 1) or 1)
        exif = exif_dict(image)
        upright = ImageOps.exif_transpose(image) or image
        return ImageExtract(
            format=fmt,
            width=image.width,
            height=image.height,
            mode=image.mode,
            frames=frames,
            exif=exif,
            thumbnail_jpeg=to_jpeg(upright, THUMBNAIL_SIDE, quality=80),
            model_jpeg=to_jpeg(upright, MODEL_SIDE, quality=90),
            ocr_png=to_png(upright, OCR_MAX_SIDE),
        )
    finally:
        image.close()
