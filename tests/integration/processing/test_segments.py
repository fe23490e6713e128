"""Long objects in segments: the same rows as extracted whole, each segment staged on its own,
a rerun redoes only the missing segments."""
from __future__ import annotations

import pytest
from media_files import ffmpeg, speech_video

from functions.common.constants import ENV_SEGMENT_PAGES, ENV_SEGMENT_SECONDS
from functions.common.staging import object_prefix


def _pdf(pages: int) -> bytes:
    from samples.generate import _pdf

    return _pdf("Pump manual", [f"Maintenance of pump number {n}: the seal of pump {n} is checked." for n in range(1, pages + 1)])


def _chunks(rows):
    return [(c["ordinal"], c["kind"], c["text"], c["page"], c["time_start"], c["time_end"]) for c in rows["chunks"]]


def test_a_pdf_in_page_ranges_gives_the_rows_it_gives_whole(pipeline, monkeypatch, s3, staging_bucket):
    data = _pdf(5)
    whole = pipeline.put("manuals/whole.pdf", data, "document", "application/pdf")
    assert pipeline.run(whole)["status"] == "succeeded"
    monkeypatch.setenv(ENV_SEGMENT_PAGES, "2")
    pipeline.new_containers()  # a new container reads the new setting
    # Other bytes (a comment after %%EOF), the same pages: not a duplicate whose result is reused.
    parted = pipeline.put("manuals/parted.pdf", data + b"\n% parted\n", "document", "application/pdf")

    result = pipeline.run(parted)

    assert result["status"] == "succeeded", result
    assert _chunks(pipeline.rows(parted)) == _chunks(pipeline.rows(whole))
    assert [c["page"] for c in pipeline.rows(parted)["chunks"]] == [1, 2, 3, 4, 5]
    prefix = f"{object_prefix(pipeline.version, parted)}/segments/"
    staged = sorted(o["Key"].rsplit("/", 1)[1] for o in s3.list_objects_v2(Bucket=staging_bucket, Prefix=prefix)["Contents"])
    assert staged == ["0000.json", "0000.txt", "0001.json", "0001.txt", "0002.json", "0002.txt"]
    assert pipeline.rows(parted)["object"]["metadata"]["pages"] == 5


def test_a_video_in_time_segments_gives_the_chunks_keyframes_and_transcript_it_gives_whole(
        pipeline, monkeypatch, media_dir, wav):
    data = speech_video(media_dir, wav, seconds=12.0).read_bytes()
    whole = pipeline.put("video/whole.mp4", data, "video", "video/mp4")
    assert pipeline.run(whole)["status"] == "succeeded"
    monkeypatch.setenv(ENV_SEGMENT_SECONDS, "10")  # two segments of whole 5-second chunks: 0-10, 10-12
    pipeline.new_containers()

    remuxed = media_dir / "parted.mp4"  # other bytes (a title), the same streams: not a duplicate
    ffmpeg("-i", str(media_dir / "talk.mp4"), "-c", "copy", "-metadata", "title=parted", str(remuxed))
    parted = pipeline.put("video/parted.mp4", remuxed.read_bytes(), "video", "video/mp4")
    result = pipeline.run(parted)

    assert result["status"] == "succeeded", result
    whole_rows, parted_rows = pipeline.rows(whole), pipeline.rows(parted)
    assert _chunks(parted_rows) == _chunks(whole_rows)
    assert [c["time_start"] for c in parted_rows["chunks"]] == [0.0, 5.0, 10.0]
    assert any(c["text"] for c in parted_rows["chunks"])  # speech heard in the segments' audio
    assert len(parted_rows["embeddings"]) == len(whole_rows["embeddings"])


def test_a_rerun_redoes_only_the_segments_not_staged_yet(pipeline, monkeypatch, s3, staging_bucket):
    monkeypatch.setenv(ENV_SEGMENT_PAGES, "2")
    obj = pipeline.put("manuals/rerun.pdf", _pdf(5), "document", "application/pdf")
    item = pipeline.item(obj)
    planned = pipeline.invoke("extract", item)
    first, second, third = planned["segments"]
    # An attempt that crashed after its first segment:
    assert pipeline.invoke("extract", {**item, "segment": first})["from_checkpoint"] is False

    redone = [pipeline.invoke("extract", {**item, "segment": s}) for s in (first, second, third)]

    assert [r["from_checkpoint"] for r in redone] == [True, False, False]
    assembled = pipeline.invoke("extract", planned)
    assert assembled.get("segments") is None and assembled["manifest"]["key"].endswith("/extract.json")


def test_assembly_refuses_while_a_segment_is_missing_with_a_retryable_error(pipeline, monkeypatch):
    from functions.common.errors import StagingUnavailableError

    monkeypatch.setenv(ENV_SEGMENT_PAGES, "2")
    obj = pipeline.put("manuals/missing.pdf", _pdf(3), "document", "application/pdf")
    item = pipeline.item(obj)
    planned = pipeline.invoke("extract", item)
    pipeline.invoke("extract", {**item, "segment": planned["segments"][0]})

    with pytest.raises(StagingUnavailableError, match="segment 1 has no staged output"):
        pipeline.invoke("extract", planned)
