"""Planning video chunks from scene changes (functions/processing/chunking/scenes.py): a pure function of
the change times, with windows of 5 s (chunks 1.25-10 s)."""
from __future__ import annotations

import subprocess

import pytest

from functions.common.settings import Settings
from functions.processing.chunking import scenes
from functions.processing.formats.media import TimeRange, plan_chunks


def _plan(start, end, cuts, **bounds):
    return [(c.range.start, c.range.end) for c in scenes.plan(start, end, cuts, 5.0, **bounds)]


def test_chunks_begin_at_each_scene_change():
    chunks = scenes.plan(0.0, 16.0, [4.0, 13.0], 5.0)
    assert [(c.range.start, c.range.end) for c in chunks] == [(0.0, 4.0), (4.0, 13.0), (13.0, 16.0)]
    assert [c.at_change for c in chunks] == [False, True, True]


def test_without_scene_changes_the_chunks_are_the_fixed_windows():
    assert _plan(0.0, 12.0, []) == [(r.start, r.end) for r in plan_chunks(12.0, 5.0)]
    assert _plan(0.0, 3.0, []) == [(0.0, 3.0)]


def test_a_scene_shorter_than_a_quarter_window_joins_the_scene_before_it():
    assert _plan(0.0, 16.0, [4.0, 13.0, 13.5]) == [(0.0, 4.0), (4.0, 13.5), (13.5, 16.0)]
    assert _plan(0.0, 8.0, [0.5]) == [(0.0, 8.0)]  # the first joins the one after it


def test_a_scene_longer_than_two_windows_is_cut_on_the_window_grid_without_slivers():
    # 4.6-30 s is one scene: windows from 10 s on; 4.6-5 would be a sliver, so 4.6-10.
    assert _plan(0.0, 30.0, [4.6]) == [(0.0, 4.6), (4.6, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.0), (25.0, 30.0)]
    # and the last window takes a tail shorter than a quarter window
    assert _plan(0.0, 21.0, [])[-1] == (15.0, 21.0)


def test_no_chunk_is_longer_than_two_windows_or_shorter_than_a_quarter():
    cuts = [0.3, 0.9, 7.2, 7.4, 19.0, 31.5, 32.0, 32.6, 55.1, 57.0]
    chunks = _plan(0.0, 60.0, cuts)
    assert chunks[0][0] == 0.0 and chunks[-1][1] == 60.0
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert all(1.25 <= end - start <= 10.0 for start, end in chunks), chunks


def test_a_segment_is_planned_alone_and_a_scene_cut_off_by_its_bound_on_the_grid():
    # A video of 20 s without changes in segments of 10 s: the whole video's windows.
    assert _plan(0.0, 10.0, [], open_end=True) + _plan(10.0, 20.0, [], open_start=True) == _plan(0.0, 20.0, [])
    # A scene from 4 s to 13 s across the bound at 10 s: cut there as well.
    assert _plan(0.0, 10.0, [4.0], open_end=True) == [(0.0, 4.0), (4.0, 10.0)]
    assert _plan(10.0, 16.0, [13.0], open_start=True) == [(10.0, 13.0), (13.0, 16.0)]


def test_a_chunk_gets_a_keyframe_per_window_it_spans_in_the_middle_of_equal_shares():
    assert scenes.keyframe_times(TimeRange(0.0, 5.0), 5.0) == [2.5]
    assert scenes.keyframe_times(TimeRange(4.0, 13.0), 5.0) == [6.25, 10.75]
    assert len(scenes.keyframe_times(TimeRange(0.0, 600.0), 5.0)) == scenes.MAX_KEYFRAMES


def test_video_chunking_setting_is_scenes_or_fixed():
    assert Settings.from_env({}).video_chunking == "scenes"
    assert Settings.from_env({"VIDEO_CHUNKING": "fixed"}).video_chunking == "fixed"
    with pytest.raises(ValueError, match="VIDEO_CHUNKING"):
        Settings.from_env({"VIDEO_CHUNKING": "shots"})


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    """Red 3 s, blue 4 s, green 5 s at 10 frames a second, keyframes every 2 s."""
    out = tmp_path_factory.mktemp("cuts") / "cuts.mp4"
    inputs = []
    for colour, seconds in (("red", 3), ("blue", 4), ("green", 5)):
        inputs += ["-f", "lavfi", "-i", f"color=c={colour}:s=320x240:r=10:d={seconds}"]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex",
                    "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]", "-map", "[v]", "-g", "20", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)], check=True, capture_output=True)
    return out


def test_ffmpeg_scene_detector_finds_the_cuts_to_the_frame(cut_video):
    assert scenes.detect(cut_video, 0.0, 12.0) == [3.0, 7.0]


def test_a_window_finds_the_cuts_the_whole_finds_in_it(cut_video):
    assert scenes.detect(cut_video, 5.0, 12.0) == [7.0]
    assert scenes.detect(cut_video, 0.0, 7.0) == [3.0]  # a change at the window's end begins the next one
    assert scenes.detect(cut_video, 3.0, 12.0) == [7.0]  # nor at its start: the chunk starts there anyway
