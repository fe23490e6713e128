"""Segment plans follow the chunking, and audio decoded from a start time is the same samples
as the whole decoded and cut there."""
from __future__ import annotations

import math
import wave

import pytest

from functions.common.events import Segment
from functions.processing.formats import media
from functions.processing.staging.segments import MAX_SEGMENTS, plan_pages, plan_time


def test_media_that_fits_one_invocation_is_not_segmented():
    assert plan_time(600.0, 30.0, 600.0) is None
    assert plan_pages(100, 100) is None


def test_an_hour_of_video_in_ten_minute_segments_of_whole_chunks():
    segments = plan_time(3600.0, 30.0, 600.0)
    assert [(s.time_start, s.time_end) for s in segments] == [(i * 600.0, (i + 1) * 600.0) for i in range(6)]


def test_a_segment_is_a_whole_number_of_chunks_and_the_last_one_the_remainder():
    segments = plan_time(125.0, 7.0, 30.0)  # 28 s = 4 chunks of 7 s per segment
    assert [s.time_start for s in segments] == [0.0, 28.0, 56.0, 84.0, 112.0]
    assert segments[-1].time_end == 125.0
    assert all(round(s.time_start / 7.0, 6).is_integer() for s in segments)


def test_page_ranges_cover_every_page_once():
    segments = plan_pages(2000, 100)
    assert len(segments) == 20 and segments[0].first_page == 1 and segments[-1].last_page == 2000
    covered = [p for s in segments for p in range(s.first_page, s.last_page + 1)]
    assert covered == list(range(1, 2001))


def test_segments_are_capped_by_growing_them():
    segments = plan_pages(100_000, 10)
    assert len(segments) <= MAX_SEGMENTS and segments[-1].last_page == 100_000
    timed = plan_time(4 * 3600.0, 5.0, 10.0)
    assert len(timed) <= MAX_SEGMENTS and math.isclose(timed[-1].time_end, 4 * 3600.0)


def test_a_segment_is_either_a_time_window_or_a_page_range():
    with pytest.raises(ValueError):
        Segment(number=0, time_start=0.0, time_end=5.0, first_page=1, last_page=2)
    with pytest.raises(ValueError):
        Segment(number=0)


def test_audio_decoded_from_a_start_time_is_the_whole_cut_there(tmp_path):
    source = tmp_path / "tone.wav"
    with wave.open(str(source), "wb") as w:  # 3 s of a 16 kHz ramp, distinct samples
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(media.SAMPLE_RATE)
        w.writeframes(b"".join(((i * 7) % 30000).to_bytes(2, "little") for i in range(3 * media.SAMPLE_RATE)))
    whole, part = tmp_path / "whole.wav", tmp_path / "part.wav"
    media.decode_audio_16k(source, whole)

    seconds = media.decode_audio_16k(source, part, max_seconds=1.0, start=1.25)

    assert seconds == 1.0  # exactly: the next segment starts where this one ends
    expected = media.wav_slice(whole, 1.25, 1.25 + seconds)
    with wave.open(str(part), "rb") as got:
        frames = got.readframes(got.getnframes())
    assert frames == expected[44:]  # the same samples (after the 44-byte WAV header)
