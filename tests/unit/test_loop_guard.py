"""The loop guard on streamed text (airlock/engine/core/loop_guard.py)."""

from __future__ import annotations

import pytest

from airlock.engine.core.loop_guard import LoopGuard

LOOP = ("Thank you! Your generosity is a wonderful gift. I am glad to help. "
        "Your generosity is a wonderful gift. Your generosity is a wonderful gift. "
        "Your generosity is a wonderful gift.")


def stream(text: str, size: int) -> tuple[str, LoopGuard]:
    guard, out = LoopGuard(), []
    for i in range(0, len(text), size):
        out.append(guard.feed(text[i:i + size]))
        if guard.tripped:
            break
    out.append(guard.finish())
    return "".join(out), guard


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50, 1000])
def test_repeated_sentences_are_dropped_and_the_loop_stops(size):
    text, guard = stream(LOOP, size)
    assert text == "Thank you! Your generosity is a wonderful gift. I am glad to help."
    assert guard.tripped and guard.repeats == 2


def test_one_repeat_is_dropped_without_stopping():
    text, guard = stream("The sky is blue today. Birds sing. The sky is blue today. Bye now.", 4)
    assert text == "The sky is blue today. Birds sing. Bye now."
    assert not guard.tripped and guard.repeats == 1


@pytest.mark.parametrize("text", [
    "Yes. Yes. Yes. No.",  # short sentences repeat legitimately
    "Step one is easy. Step two is harder. Step three is the hardest.",
    "Math can be fun. Math can be fun, really, if you try.",  # a longer sentence that diverges
    "Pi is 3.14 and e is 2.71, both irrational.",
])
def test_ordinary_text_passes_unchanged(text):
    out, guard = stream(text, 3)
    assert out == text and not guard.tripped


def test_a_held_sentence_that_diverges_is_released_in_full():
    guard = LoopGuard()
    first = guard.feed("The answer is forty-two. ")
    held = guard.feed("The answer is")
    # The space after a sentence belongs to the next one, which may still be a repeat.
    assert first == "The answer is forty-two." and held == ""
    assert guard.feed(" different now.") == " The answer is different now."


def test_a_span_repeated_without_punctuation_stops_the_reply():
    text, guard = stream("a wonderful gift for you " * 5, 5)
    assert guard.tripped
    assert text.count("a wonderful gift for you") == 3  # streamed copies stay


def test_a_repeat_at_the_very_end_is_not_kept():
    text, guard = stream("We should meet on Monday morning. Okay. We should meet on Monday morning", 6)
    assert text == "We should meet on Monday morning. Okay."


def test_a_number_that_never_ends_stops_the_reply():
    endless = "3^15 is:\n```output\n48" + "0354040403540404040" * 20
    text, guard = stream(endless, 3)
    assert guard.tripped
    assert len(text) < len(endless)


@pytest.mark.parametrize("text", [
    "2 ** 200 = 1606938044258990275541962092341162602522202993782792835301376 exactly.",
    "sha256: " + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" * 2,
    "-" * 120 + "\nA rule, then text.",
])
def test_long_numbers_hashes_and_rules_stream_whole(text):
    out, guard = stream(text, 5)
    assert out == text and not guard.tripped
