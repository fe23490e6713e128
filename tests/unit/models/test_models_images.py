"""The image decode paths of model_artifacts/_shared/mm_images.py on CPU.

The GPU path's resize / crop / normalise are tensor ops that run on CPU too: they are compared
here with the role's own processor (CLIPImageProcessorPil, as the checkpoints carry it) on the
same decoded pixels. nvJPEG itself needs a GPU (bench/gpu_check.sh); which images it is given is
decided by ``nvjpeg_reads``, tested here on every format a batch may mix.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from models_helpers import inference, run

inference("image_embedding")  # puts _shared on sys.path, as inference.py does in the repository
import mm_images  # noqa: E402
import mm_serving as mm  # noqa: E402

CLIP_224 = dict(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
FLORENCE_384 = dict(size={"height": 384, "width": 384}, crop_size={"height": 384, "width": 384}, do_center_crop=False)


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Gradients plus noise: edges and texture, so a resize difference would show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (height + width)], -1)
    return np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)


def _encode(array: np.ndarray, fmt: str, mode: str = "RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


MIXED = {  # name -> bytes: every kind of image one batch may carry, at different sizes
    "jpeg 480x640": _encode(_photo(480, 640, 1), "JPEG"),
    "png 640x480": _encode(_photo(640, 480, 2), "PNG"),
    "webp 300x500": _encode(_photo(300, 500, 3), "WEBP"),
    "grey jpeg 200x150": _encode(_photo(200, 150, 4), "JPEG", "L"),
    "cmyk jpeg 256x256": _encode(_photo(256, 256, 5), "JPEG", "CMYK"),
    "png upscaled 40x30": _encode(_photo(40, 30, 6), "PNG"),
    "jpeg 1000x333": _encode(_photo(1000, 333, 7), "JPEG"),
}


@pytest.mark.parametrize("settings", [CLIP_224, FLORENCE_384], ids=["clip-shortest-edge-crop", "florence-fixed-size"])
def test_tensor_path_equals_the_processor_within_one_intensity_level_for_a_mixed_batch(settings):
    from transformers import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil(**settings)
    recipe = mm_images.PixelRecipe.of(processor)
    datas = list(MIXED.values())

    expected, sizes = mm_images.processor_pixels(datas, processor)
    got = mm_images.pixel_values(mm_images.decode_rgb(datas, "cpu"), recipe)

    assert got.shape == expected.shape
    difference = (got - expected).abs()
    # At most PIXEL_TOLERANCE_LEVELS (2) 8-bit levels on any pixel, more than one on almost none;
    # order kept row by row.
    one_level = recipe.tolerance() / mm_images.PIXEL_TOLERANCE_LEVELS
    assert difference.max().item() <= recipe.tolerance()
    assert (difference > one_level).float().mean().item() < 1e-4
    assert difference.mean().item() < 0.01 * one_level
    assert sizes[0] == (640, 480) and sizes[-1] == (333, 1000)


def test_tensor_path_gives_the_model_the_same_embeddings_as_the_processor(tiny_dirs):
    import torch

    module = inference("image_embedding")
    model = module.model_fn(tiny_dirs("image_embedding"))
    datas = list(MIXED.values())
    recipe = mm_images.PixelRecipe.of(model["processor"])

    reference, _ = mm_images.processor_pixels(datas, model["processor"])
    tensors = mm_images.pixel_values(mm_images.decode_rgb(datas, "cpu"), recipe)
    with torch.inference_mode():
        a = module._features(model["model"].get_image_features(pixel_values=reference))
        b = module._features(model["model"].get_image_features(pixel_values=tensors))
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    assert cosine.min().item() > 0.9999


def test_only_grey_and_ycbcr_jpegs_go_to_nvjpeg():
    assert mm_images.jpeg_components(MIXED["jpeg 480x640"]) == 3
    assert mm_images.jpeg_components(MIXED["grey jpeg 200x150"]) == 1
    assert mm_images.jpeg_components(MIXED["cmyk jpeg 256x256"]) == 4
    readable = {name for name, data in MIXED.items() if mm_images.nvjpeg_reads(data)}
    assert readable == {"jpeg 480x640", "grey jpeg 200x150", "jpeg 1000x333"}


def test_a_corrupt_image_fails_alone_with_its_index_after_the_others_decoded():
    datas = [MIXED["jpeg 480x640"], b"\xff\xd8\xff\xe0 truncated", MIXED["png 640x480"], b"not an image"]
    with pytest.raises(mm.BadRequest) as caught:
        mm_images.decode_rgb(datas, "cpu", positions=[0, 3, 4, 7])
    message = str(caught.value)
    assert message.startswith("[input] not a readable image (item 3)")
    assert "item 7" in message and "item 0" not in message and "item 4" not in message


def test_clip_names_the_corrupt_item_by_its_request_index(tiny_dirs):
    module = inference("image_embedding")
    model = module.model_fn(tiny_dirs("image_embedding"))
    good = base64.b64encode(MIXED["png 640x480"]).decode()
    bad = base64.b64encode(b"\x89PNG\r\n\x1a\n broken").decode()
    with pytest.raises(mm.BadRequest, match=r"^\[input\] not a readable image \(item 2\)"):
        run(module, model, [{"image_b64": good}, {"text": "a cat"}, {"image_b64": bad}, {"image_b64": good}])


def test_clip_embeds_a_mixed_format_batch_in_request_order(tiny_dirs):
    module = inference("image_embedding")
    model = module.model_fn(tiny_dirs("image_embedding"))
    items = [{"image_b64": base64.b64encode(data).decode()} for data in MIXED.values()]

    together = run(module, model, items, {"batch_size": 3})["outputs"]
    alone = [run(module, model, [item])["outputs"][0] for item in items]

    assert len(together) == len(MIXED)
    for a, b in zip(together, alone):
        assert a == pytest.approx(b, abs=1e-5)


def test_s3_items_are_fetched_in_parallel_and_returned_in_request_order(s3, ingest_bucket, monkeypatch):
    monkeypatch.setattr(mm, "_s3_client", None)
    for i in range(20):
        s3.put_object(Bucket=ingest_bucket, Key=f"k{i}", Body=f"object {i}".encode())
    items = [{"s3_uri": f"s3://{ingest_bucket}/k{i}"} for i in range(20)]
    items.insert(5, {"image_b64": base64.b64encode(b"inline").decode()})

    data = mm.items_bytes(items, "image_b64")

    assert data[5] == b"inline"
    assert [d.decode() for d in data[:5] + data[6:]] == [f"object {i}" for i in range(20)]
    items[9] = {"s3_uri": f"s3://{ingest_bucket}/missing"}
    with pytest.raises(mm.BadRequest, match=r"cannot read s3://.*/missing.*\(item 9\)"):
        mm.items_bytes(items, "image_b64")
    monkeypatch.setattr(mm, "_s3_client", None)
