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


def test_a_stored_file_is_shown_at_once_so_the_last_line_matches_the_database():
    from local.progress import StageProgress

    stream = io.StringIO()
    bar = StageProgress(40, stream=stream, line_every_s=3600)
    bar.set("store", 20)  # read from PostgreSQL: written now, not at the next 10-second line
    assert stream.getvalue().strip().splitlines()[-1].count("stored (PostgreSQL) 20/40") == 1


def test_chunk_progress_has_a_rate_and_an_estimate_for_what_is_extracted():
    from local.progress import StageProgress, chunk_line

    stream = io.StringIO()
    bar = StageProgress(1, stream=stream, line_every_s=0)
    bar.set_chunks(1000, 0, 0, now=0.0)
    bar.set_chunks(1000, 100, 0, now=10.0)  # 10 chunks a second: 900 left, 90 s
    assert bar.chunk_summary() == ("chunks extracted 1000, embedded 100, stored 0; embedding 10.0/s, "
                                   "about 1 min 30 s left to embed the 1000 extracted")
    bar.set("uploaded", 1)
    assert "chunks extracted 1000, embedded 100" in stream.getvalue()
    assert chunk_line(5, 5, 5, None) == "chunks extracted 5, embedded 5, stored 5"
