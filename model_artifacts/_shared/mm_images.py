"""Images into pixel tensors, fast where the hardware is: shared by the image roles' ``inference.py``.

Copied next to ``inference.py`` inside ``model.tar.gz`` (``code/mm_images.py``) with
``mm_serving.py`` by ``model_artifacts.package``; imports nothing from this repository.

Two paths, chosen by the model's device (issue 29: on an H200 the old chain decoded JPEGs with
PIL on one core at 182 images/s while the model alone ran 30,067 images/s):

* CUDA: JPEGs are decoded in one batch by nvJPEG on the GPU (``torchvision.io.decode_jpeg`` with
  ``device="cuda"``); what nvJPEG does not read (PNG, WebP, GIF, CMYK/YCCK JPEG, a JPEG it
  refuses) is decoded by PIL in a thread pool and copied up. Resize, centre crop, rescale and
  normalisation then run as tensor ops on the GPU (``pixel_values``), following the role's own
  image processor's settings (``PixelRecipe.of``).
* CPU: each image is decoded by PIL and run through the role's own processor, one image per task
  in a thread pool: the same numbers as ``processor(images=batch)`` (it works image by image).

``pixel_values`` equals the processor's output within ``PIXEL_TOLERANCE_LEVELS`` 8-bit intensity
levels (``tolerance(recipe)`` in normalised units) when both start from the same decoded pixels:
tests/unit/models/test_models_images.py compares them on CPU (PIL decode for both; the resize
is done in two rounded passes as PIL does). nvJPEG's decode itself (IDCT, chroma upsampling)
can differ from libjpeg's by a level or two more: that part is only checked on a GPU
(bench/gpu_check.sh). A corrupt item raises ``BadRequest`` naming that item (its index in the
request, and why) after every other item was decoded.
"""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import mm_serving as mm  # beside this file (code/ in the container, _shared/ on sys.path in the repository)

# Largest difference from the processor's pixels, in 8-bit intensity levels. Measured on CPU over
# JPEG, PNG, WebP, grey and CMYK images, down- and upscaled: 1 level on < 0.01 % of pixels, 2 on
# 18 of 442,368 (an upscaled CMYK JPEG), none beyond.
PIXEL_TOLERANCE_LEVELS = 2
ENV_DECODE_THREADS = "IMAGE_DECODE_THREADS"
_JPEG_SOI = b"\xff\xd8\xff"
# Start-of-frame markers (ITU T.81 table B.1) except DHT/JPG/DAC, which share the range.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL.Image.Resampling values -> torch interpolate modes


def decode_threads() -> int:
    """Threads for PIL decoding (env IMAGE_DECODE_THREADS, else the CPUs this process may use)."""
    value = os.environ.get(ENV_DECODE_THREADS)
    if value:
        return max(1, int(value))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def jpeg_components(data: bytes) -> int | None:
    """Colour components of a JPEG from its start-of-frame header (1 grey, 3 YCbCr, 4 CMYK/YCCK),
    None when ``data`` is not a JPEG or has no frame header."""
    if not data.startswith(_JPEG_SOI):
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF:
            return data[pos + 9] if pos + 9 < len(data) else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def nvjpeg_reads(data: bytes) -> bool:
    """Whether nvJPEG (torchvision's GPU decode) reads this image: grey or YCbCr JPEGs only."""
    return jpeg_components(data) in (1, 3)


@dataclass(frozen=True)
class PixelRecipe:
    """What a Hugging Face image processor does to one RGB image, as tensor operations."""

    shortest_edge: int | None  # resize so the short side is this (aspect kept), or
    size: tuple[int, int] | None  # resize to (height, width)
    crop: tuple[int, int] | None  # centre crop (height, width)
    mode: str  # torch interpolate mode matching the processor's PIL resample
    scale: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @classmethod
    def of(cls, processor: Any) -> PixelRecipe | None:
        """The recipe of ``processor`` (a processor or its ``image_processor``), or None when it
        does something this module does not reproduce (then the processor itself is used)."""
        ip = getattr(processor, "image_processor", processor)

        def get(obj, key):
            return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

        resample = get(ip, "resample")
        mode = _RESAMPLE.get(int(resample)) if resample is not None else None
        if mode is None or not get(ip, "do_resize"):
            return None
        size = get(ip, "size") or {}
        shortest, height, width = get(size, "shortest_edge"), get(size, "height"), get(size, "width")
        if get(size, "longest_edge") or get(size, "max_height") or not (shortest or (height and width)):
            return None
        crop = None
        if get(ip, "do_center_crop"):
            crop_size = get(ip, "crop_size") or {}
            crop = (int(get(crop_size, "height")), int(get(crop_size, "width")))
        normalize = bool(get(ip, "do_normalize"))
        return cls(
            shortest_edge=int(shortest) if shortest else None,
            size=None if shortest else (int(height), int(width)),
            crop=crop,
            mode=mode,
            scale=float(get(ip, "rescale_factor")) if get(ip, "do_rescale") else None,
            mean=tuple(float(v) for v in get(ip, "image_mean")) if normalize else None,
            std=tuple(float(v) for v in get(ip, "image_std")) if normalize else None,
        )

    def tolerance(self) -> float:
        """PIXEL_TOLERANCE_LEVELS in the units of this recipe's output (after rescale and normalise)."""
        scale = self.scale if self.scale is not None else 1.0
        return PIXEL_TOLERANCE_LEVELS * scale / (min(self.std) if self.std else 1.0) + 1e-5

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after the resize, as transformers' ``get_resize_output_image_size``
        computes it (default_to_square=False: the long side is truncated, not rounded)."""
        if self.size is not None:
            return self.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)


def _bad_items(errors: dict[int, str], positions: Sequence[int] | None = None) -> mm.BadRequest:
    # One message for every failing item, each named by its index in the request; the client's
    # ModelInputError carries it to the failure row.
    if positions is not None:
        errors = {positions[i]: message for i, message in errors.items()}
    first = min(errors)
    more = "; ".join(f"item {i}: {errors[i]}" for i in sorted(errors) if i != first)
    return mm.BadRequest(f"not a readable image (item {first}): {errors[first]}" + (f"; {more}" if more else ""))


def _pil_rgb(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def _pil_errors():
    from PIL import UnidentifiedImageError

    return (UnidentifiedImageError, OSError, ValueError, SyntaxError)


def _parallel(fn, datas: Sequence[bytes]) -> tuple[list[Any], dict[int, str]]:
    """``fn`` over ``datas`` in a thread pool (PIL and libjpeg release the GIL); per-item errors."""
    errors: dict[int, str] = {}
    out: list[Any] = [None] * len(datas)
    caught = _pil_errors()

    def one(index: int) -> None:
        try:
            out[index] = fn(datas[index])
        except caught as exc:
            errors[index] = str(exc) or type(exc).__name__

    workers = min(decode_threads(), len(datas))
    if workers <= 1:
        for index in range(len(datas)):
            one(index)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(len(datas))))
    return out, errors


def processor_pixels(datas: Sequence[bytes], processor: Any, positions: Sequence[int] | None = None):
    """CPU path: ``(pixel_values, sizes)``: the (N, 3, H, W) float32 tensor of the role's own
    processor, each image decoded by PIL and processed in a thread pool, and each image's
    (width, height). Raises BadRequest naming corrupt items."""
    import numpy as np
    import torch

    image_processor = getattr(processor, "image_processor", processor)

    def one(data: bytes):
        image = _pil_rgb(data)
        return image_processor(images=[image], return_tensors="np")["pixel_values"][0], image.size

    done, errors = _parallel(one, datas)
    if errors:
        raise _bad_items(errors, positions)
    if not done:
        return torch.empty(0), []
    return torch.from_numpy(np.stack([array for array, _ in done])), [size for _, size in done]


def decode_rgb(datas: Sequence[bytes], device: Any, positions: Sequence[int] | None = None) -> list[Any]:
    """Each image as a uint8 (3, H, W) tensor on ``device``.

    On CUDA, nvJPEG decodes the JPEGs it reads in one batch; PIL decodes the rest (and, on CPU,
    everything) in a thread pool. Raises BadRequest naming every item no decoder could read.
    """
    import numpy as np
    import torch

    device = torch.device(device)
    out: list[Any] = [None] * len(datas)
    on_gpu = [i for i, data in enumerate(datas) if device.type == "cuda" and nvjpeg_reads(data)]
    if on_gpu:
        for index, tensor in zip(on_gpu, _nvjpeg([datas[i] for i in on_gpu], device)):
            out[index] = tensor
    rest = [i for i in range(len(datas)) if out[i] is None]

    def one(data: bytes):
        return torch.from_numpy(np.array(_pil_rgb(data))).permute(2, 0, 1)

    decoded, errors = _parallel(one, [datas[i] for i in rest])
    if errors:
        raise _bad_items({rest[i]: message for i, message in errors.items()}, positions)
    for index, tensor in zip(rest, decoded):
        out[index] = tensor.to(device, non_blocking=True) if device.type != "cpu" else tensor
    return out


def _nvjpeg(datas: list[bytes], device) -> list[Any]:
    """Batched GPU decode; a batch nvJPEG refuses is decoded one by one, and an image it still
    refuses comes back as None (PIL then tries it and names it if it is corrupt)."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in datas]
    try:
        return list(decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        pass
    out: list[Any] = []
    for tensor in encoded:
        try:
            out.append(decode_jpeg(tensor, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:
            out.append(None)
    return out


def pixel_values(images: Sequence[Any], recipe: PixelRecipe, dtype: Any = None):
    """(N, 3, H, W) model input from uint8 (3, h, w) tensors, on their device: the processor's
    resize (antialiased, as PIL), rounding to 8 bits (as PIL's output), centre crop, rescale and
    normalisation, each batched over the images that share a size."""
    import torch
    import torch.nn.functional as F

    if not images:
        return torch.empty(0)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault((int(image.shape[-2]), int(image.shape[-1])), []).append(index)
    out: list[Any] = [None] * len(images)
    device = images[0].device
    mean = torch.tensor(recipe.mean, device=device).view(1, -1, 1, 1) if recipe.mean else None
    std = torch.tensor(recipe.std, device=device).view(1, -1, 1, 1) if recipe.std else None
    for (height, width), indices in groups.items():
        batch = torch.stack([images[i] for i in indices]).float()
        size = recipe.output_size(height, width)
        if size != (height, width):
            # Two passes, horizontal then vertical, each rounded to 8 bits: what PIL's resample
            # does (ImagingResample), which keeps the difference to it within a level or two.
            if size[1] != width:
                batch = F.interpolate(batch, size=(height, size[1]), mode=recipe.mode, antialias=True, align_corners=False)
                batch = batch.clamp_(0, 255).round_()
            if size[0] != height:
                batch = F.interpolate(batch, size=size, mode=recipe.mode, antialias=True, align_corners=False)
                batch = batch.clamp_(0, 255).round_()
        if recipe.crop is not None:
            batch = _center_crop(batch, recipe.crop)
        if recipe.scale is not None:
            batch = batch * recipe.scale
        if mean is not None:
            batch = (batch - mean) / std
        for index, row in zip(indices, batch):
            out[index] = row
    stacked = torch.stack(out)
    return stacked.to(dtype) if dtype is not None else stacked


def _center_crop(batch, crop: tuple[int, int]):
    """transformers' ``center_crop``: zero-pad to at least ``crop`` (centred), then crop the middle."""
    import torch.nn.functional as F

    height, width = batch.shape[-2:]
    crop_h, crop_w = crop
    if height < crop_h or width < crop_w:
        pad_h, pad_w = max(crop_h - height, 0), max(crop_w - width, 0)
        batch = F.pad(batch, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        height, width = batch.shape[-2:]
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return batch[..., top : top + crop_h, left : left + crop_w]


def images_to_pixels(datas: Sequence[bytes], processor: Any, device: Any, dtype: Any = None,
                     positions: Sequence[int] | None = None):
    """``(pixel_values, sizes)``: the model's input for encoded images on ``device`` (in ``dtype``),
    and each image's (width, height) as decoded.

    On CUDA with a processor whose steps ``PixelRecipe`` reproduces: decoded (nvJPEG / PIL pool)
    and preprocessed on the GPU. Otherwise: the processor itself, image by image in a thread pool
    (the CPU behaviour). Raises BadRequest naming each image no decoder could read.
    """
    import torch

    device = torch.device(device)
    recipe = PixelRecipe.of(processor) if device.type == "cuda" else None
    if recipe is None:
        pixels, sizes = processor_pixels(datas, processor, positions)
        return (pixels.to(device, dtype) if dtype is not None else pixels.to(device)), sizes
    images = decode_rgb(datas, device, positions)
    return pixel_values(images, recipe, dtype), [(int(i.shape[-1]), int(i.shape[-2])) for i in images]
