"""The extractors one layer above the readers (issue 26): OCR is sent the lossless original, not
the model-sized JPEG; Markdown and HTML tables reach the chunks' metadata as rows of cells.
Runs the real extractors over moto's in-process S3; the OCR role is a recording stand-in."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from functions.common.events import ObjectRef
from functions.common.model_client import ModelResult
from functions.common.settings import Settings
from functions.common.staging import Staging
from functions.processing.extract.job import ExtractJob
from functions.processing.staging.manifest import ExtractManifest


class RecordingModels:
    """Every role deployed; each call recorded; OCR answers one fixed line per image."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def available(self, role: str) -> bool:
        return True

    def invoke(self, role: str, items: list[Any], checkpoints: Any = None) -> ModelResult:
        self.calls.append((role, items))
        return ModelResult(outputs=[{"text": "invoice 4711", "words": [{"text": "invoice"}]} for _ in items],
                           model={"id": "recording", "version": "1"})


def _job(s3, tmp_path: Path, staging_bucket: str, key: str, data: bytes, modality: str, fmt: str) -> ExtractJob:
    source = tmp_path / "source"
    source.write_bytes(data)
    obj = ObjectRef(bucket="test-ingest-bucket", key=key, size=len(data), modality=modality)
    settings = Settings.from_env({"STAGING_BUCKET": staging_bucket})
    return ExtractJob(source=source, workdir=tmp_path, s3=s3, settings=settings, models=RecordingModels(),  # type: ignore[arg-type]
                      staging=Staging(s3, staging_bucket, "v1", obj),
                      manifest=ExtractManifest(object=obj, pipeline_version="v1", modality=modality, detected_format=fmt))


def test_ocr_reads_a_lossless_copy_at_the_original_resolution(s3, staging_bucket, tmp_path):
    from functions.processing.extract import image

    original = Image.new("RGB", (2400, 300), "white")
    ImageDraw.Draw(original).text((8, 8), "Invoice 4711 due 2024-03-01", fill="black")
    buffer = io.BytesIO()
    original.save(buffer, "PNG")
    job = _job(s3, tmp_path, staging_bucket, "img/receipt.png", buffer.getvalue(), "image", "png")

    image.extract(job)

    [(role, [blob])] = job.models.calls  # type: ignore[attr-defined]
    assert role == "ocr" and blob.pointer.key.endswith("/ocr.png")
    sent = Image.open(io.BytesIO(s3.get_object(Bucket=staging_bucket, Key=blob.pointer.key)["Body"].read()))
    assert sent.format == "PNG" and sent.convert("RGB").tobytes() == original.tobytes()
    assert job.manifest.artefacts["image"].key.endswith("image.jpg")  # the models' copy is still the JPEG
    assert job.manifest.chunks[0].text == "invoice 4711"


def test_markdown_table_rows_reach_the_chunk_metadata(s3, staging_bucket, tmp_path):
    from functions.processing.extract import text

    data = b"# Tides\n\n| Port | High water |\n|---|---|\n| Brest | 06:12 |\n| Cork | 07:40 |\n"
    job = _job(s3, tmp_path, staging_bucket, "notes/tides.md", data, "text", "text")

    text.extract(job)

    assert job.manifest.detected_format == "markdown" and job.manifest.metadata["tables"] == 1
    [chunk] = job.manifest.chunks
    [table] = chunk.metadata["tables"]
    assert table["header"] == ["Port", "High water"] and table["rows"] == [["Brest", "06:12"], ["Cork", "07:40"]]


def test_html_table_rows_reach_the_chunk_metadata(s3, staging_bucket, tmp_path):
    from functions.processing.extract import text

    data = b"<html><body><p>Berths</p><table><tr><th>Berth</th><th>Depth</th></tr><tr><td>North</td><td>12</td></tr></table></body></html>"
    job = _job(s3, tmp_path, staging_bucket, "web/port.html", data, "text", "html")

    text.extract(job)

    [chunk] = job.manifest.chunks
    [table] = chunk.metadata["tables"]
    assert table["header"] == ["Berth", "Depth"] and table["rows"] == [["North", "12"]]
    assert "Berth: North; Depth: 12" in chunk.text
