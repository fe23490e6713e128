"""local.progress: stage counts, and plain lines (no cursor escapes) when not on a terminal."""
from __future__ import annotations

import io

from local.progress import StageProgress


def test_off_a_terminal_progress_is_plain_lines_with_every_stage_count():
    stream = io.StringIO()  # not a TTY, like a CI log
    with StageProgress(3, stream=stream, line_every_s=0) as bar:
        bar.set("uploaded", 3)
        bar.set("in Kafka", 2)
        bar.set("in Kafka", 1)  # counts only grow
        assert bar.counts()["uploaded"] == 3 and bar.counts()["in Kafka"] == 2
    text = stream.getvalue()
    assert "\x1b[" not in text and "\r" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("progress: uploaded to S3 3/3, in Kafka 2/3, dispatched (execution) 0/3")


def test_plain_lines_are_rate_limited():
    stream = io.StringIO()
    bar = StageProgress(10, stream=stream, line_every_s=3600)
    for n in range(1, 11):
        bar.set("uploaded", n)
    bar.close()
    assert len(stream.getvalue().strip().splitlines()) == 1  # only the closing line
