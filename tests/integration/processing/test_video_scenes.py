"""Video cut at scene changes (FFmpeg's scdet through PyAV), keyframes per window a chunk spans,
OCR of the words its keyframes show; fixed windows where nothing changes or when set so.
Chunk windows of 5 s (conftest), so chunks last 1.25-10 s; videos run at 10 frames a second."""
from __future__ import annotations

import pytest
from media_files import SCENE_WORDS, ffmpeg, scenes_video, silent_video

from functions.common.constants import ENV_SEGMENT_SECONDS, ENV_VIDEO_CHUNKING, VIDEO_CHUNKING_FIXED

FRAME = 0.1  # seconds
# Drawn words on white for 4 s, a red scene of 9 s (more than one window: two keyframes), blue for 3 s.
SCENES = [("words", 4.0), ("red", 9.0), ("blue", 3.0)]


@pytest.fixture(scope="module")
def scene_video(media_dir):
    return scenes_video(media_dir, SCENES)


def _times(rows):
    return [(c["time_start"], c["time_end"]) for c in rows["chunks"]]


def _retitled(media_dir, source, title):
    """Other bytes, the same streams: not a duplicate whose earlier result would be reused."""
    out = media_dir / f"{title}.mp4"
    ffmpeg("-i", str(source), "-c", "copy", "-metadata", f"title={title}", str(out))
    return out.read_bytes()


def test_chunks_begin_at_the_scene_changes(pipeline, scene_video):
    obj = pipeline.put("video/scenes.mp4", scene_video.read_bytes(), "video", "video/mp4")

    result = pipeline.run(obj)

    assert result["status"] == "succeeded", result
    rows = pipeline.rows(obj)
    assert rows["object"]["metadata"]["chunking"] == "scenes"
    expected = [(0.0, 4.0), (4.0, 13.0), (13.0, 16.0)]
    assert len(rows["chunks"]) == 3
    for chunk, (start, end) in zip(rows["chunks"], expected):
        assert chunk["time_start"] == pytest.approx(start, abs=FRAME)
        assert chunk["time_end"] == pytest.approx(end, abs=FRAME)
        assert chunk["duration"] == pytest.approx(end - start, abs=FRAME)
    assert [c["metadata"]["scene_change"] for c in rows["chunks"]] == [False, True, True]
    assert [e[0] for e in rows["embeddings"] if e[1] == "image_embedding"] == [0, 1, 2]


def test_a_scene_longer_than_a_window_gets_a_keyframe_per_window(pipeline, scene_video):
    obj = pipeline.put("video/keyframes.mp4", scene_video.read_bytes(), "video", "video/mp4")

    pipeline.run(obj)

    red = pipeline.rows(obj)["chunks"][1]["metadata"]
    assert [k["time"] for k in red["keyframes"]] == pytest.approx([6.25, 10.75], abs=FRAME)
    assert all(k["key"].endswith(f"/keyframes/000004000_{n}.jpg") for n, k in enumerate(red["keyframes"]))
    assert red["image_key"] == red["keyframes"][0]["key"]  # what the image models saw
    short = pipeline.rows(obj)["chunks"][0]["metadata"]
    assert len(short["keyframes"]) == 1 and short["keyframe_time"] == pytest.approx(2.0, abs=FRAME)


def test_words_shown_in_a_scene_are_read_into_its_chunk_text(pipeline, scene_video):
    obj = pipeline.put("video/words.mp4", scene_video.read_bytes(), "video", "video/mp4")

    pipeline.run(obj)

    rows = pipeline.rows(obj)
    words, red, blue = rows["chunks"]
    assert set(SCENE_WORDS) <= set(words["text"].split()), words["text"]
    assert words["metadata"]["ocr_text"] == words["text"]  # no audio: the words are all the text
    assert red["text"] is None and blue["text"] is None
    assert 0 in [e[0] for e in rows["embeddings"] if e[1] == "text_embedding"]  # of caption and text


def test_a_video_without_scene_changes_gets_the_fixed_windows(pipeline, media_dir):
    obj = pipeline.put("video/unchanging.mp4", silent_video(media_dir, seconds=12.0).read_bytes(), "video", "video/mp4")

    pipeline.run(obj)

    rows = pipeline.rows(obj)
    assert _times(rows) == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.0)]
    assert not any(c["metadata"]["scene_change"] for c in rows["chunks"])
    assert [c["metadata"]["keyframe_time"] for c in rows["chunks"]] == [2.5, 7.5, 11.0]


def test_fixed_chunking_ignores_the_scene_changes_and_still_reads_words(pipeline, monkeypatch, media_dir, scene_video):
    monkeypatch.setenv(ENV_VIDEO_CHUNKING, VIDEO_CHUNKING_FIXED)
    pipeline.new_containers()
    obj = pipeline.put("video/fixed.mp4", _retitled(media_dir, scene_video, "fixed"), "video", "video/mp4")

    pipeline.run(obj)

    rows = pipeline.rows(obj)
    assert rows["object"]["metadata"]["chunking"] == "fixed"
    assert _times(rows) == [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 16.0)]
    assert set(SCENE_WORDS) <= set((rows["chunks"][0]["text"] or "").split())


def test_in_segments_a_scene_across_a_segment_bound_is_cut_there_and_the_rest_is_as_whole(
        pipeline, monkeypatch, media_dir, scene_video):
    whole = pipeline.put("video/scenes-whole.mp4", scene_video.read_bytes(), "video", "video/mp4")
    assert pipeline.run(whole)["status"] == "succeeded"
    monkeypatch.setenv(ENV_SEGMENT_SECONDS, "10")  # segments 0-10 and 10-16: the red scene spans 10
    pipeline.new_containers()
    parted = pipeline.put("video/scenes-parted.mp4", _retitled(media_dir, scene_video, "parted"), "video", "video/mp4")

    result = pipeline.run(parted)

    assert result["status"] == "succeeded", result
    whole_rows, parted_rows = pipeline.rows(whole), pipeline.rows(parted)
    cut_at_bound = []
    for start, end in _times(whole_rows):
        cut_at_bound += [(start, 10.0), (10.0, end)] if start < 10.0 < end else [(start, end)]
    assert _times(parted_rows) == cut_at_bound
    assert [c["text"] for c in parted_rows["chunks"]][0] == whole_rows["chunks"][0]["text"]
    assert [c["metadata"]["scene_change"] for c in parted_rows["chunks"]] == [False, True, False, True]
