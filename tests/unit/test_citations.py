"""Citation markers and supported sentences while an answer streams (airlock/engine/core/citations.py)."""

from __future__ import annotations

import random

import pytest

from airlock.engine.core.citations import Citations as CoreCitations
from airlock.engine.core.citations import Source
from airlock.engine.turn import annotation_wire


class Citations:
    """The core's Citations, its annotations in the Assistants shape the adapter streams
    (engine/turn.py: annotation_wire), so that the offsets are checked as clients see them."""

    def __init__(self, sources):
        self.core = CoreCitations(sources)

    def _index(self, a) -> int:
        return self.core.annotations.index(a)

    def _wired(self, deltas):
        return [(text, [annotation_wire(a, self._index(a)) for a in anns]) for text, anns in deltas]

    def feed(self, piece):
        return self._wired(self.core.feed(piece))

    def finish(self):
        return self._wired(self.core.finish())

    def link_files(self, paths):
        return [annotation_wire(a, self._index(a)) for a in self.core.link_files(paths)]

    @property
    def text(self):
        return self.core.text

    @property
    def annotations(self):
        return [annotation_wire(a, i) for i, a in enumerate(self.core.annotations)]

    def content(self):
        return [{"type": "text", "text": {"value": self.core.text, "annotations": [
            annotation_wire(a) for a in self.core.annotations]}}]

ROCKET = Source(0, 0, "file-rocket", "rocket.txt",
                "The rocket uses liquid fuel made from hydrogen and oxygen.")
CATS = Source(0, 1, "file-cats", "cats.md", "Cats sleep sixteen hours daily in warm places.")
TEA = Source(1, 0, "file-tea", "tea.txt", "Green tea contains caffeine and many antioxidants.")
SOURCES = [ROCKET, CATS, TEA]
R, C, T = ROCKET.marker, CATS.marker, TEA.marker

ANSWER = (f"Rockets burn liquid hydrogen{R}. Cats sleep a lot, about 16 hours【9:9†gone.pdf】. "
          f"Green tea has caffeine and antioxidants! Pi is 3.14 but nobody asked.\n"
          f"Done{T}")


def stream(pieces, sources=SOURCES):
    """Feeds the pieces, then finishes; returns the Citations and every delta in order."""
    cite = Citations(sources)
    deltas = [d for piece in pieces for d in cite.feed(piece)] + cite.finish()
    return cite, deltas


def final(text, sources=SOURCES):
    cite, _ = stream([text], sources)
    return cite.text


def check_stream(cite, deltas):
    """The invariants of any stream: the deltas add up to the final text, and every annotation
    (each streamed once, with its own text) slices exactly its marker."""
    value = cite.content()[0]["text"]["value"]
    assert "".join(text for text, _ in deltas) == cite.text == value
    streamed = [a for _, anns in deltas for a in anns]
    assert streamed == cite.annotations
    at = 0
    for text, anns in deltas:
        for a in anns:
            assert text == a["text"] and a["start_index"] == at
        at += len(text)
    for a in cite.annotations:
        assert value[a["start_index"]:a["end_index"]] == a["text"]


def test_marker_becomes_an_annotation_over_itself():
    cite, deltas = stream([f"Rockets burn hydrogen{R} today."])
    assert cite.text == f"Rockets burn hydrogen{R} today."
    start = len("Rockets burn hydrogen")
    annotation = {"index": 0, "type": "file_citation", "text": R, "start_index": start,
                  "end_index": start + len(R), "file_citation": {
                      "file_id": "file-rocket", "quote": ROCKET.text}}
    assert cite.annotations == [annotation]
    # The full stop waits for what follows it: finish() lets it out.
    assert deltas == [("Rockets burn hydrogen", []), (R, [annotation]), (" today", []),
                      (".", [])]
    assert cite.content() == [{"type": "text", "text": {
        "value": cite.text, "annotations": [{k: v for k, v in annotation.items()
                                             if k != "index"}]}}]


def test_unknown_marker_is_dropped_and_never_streamed():
    cite, deltas = stream(["Hello", "【7:3†nope", ".txt】", " world", " again."])
    assert cite.text == "Hello world again."
    assert cite.annotations == []
    assert not any("【" in text or "nope" in text for text, _ in deltas)
    check_stream(cite, deltas)


def test_malformed_markers_are_dropped():
    assert final("A【0-0†rocket.txt】 B【:0†x】 C【0:0】 D【a:b†x】 E") == "A B C D E"


def test_marker_is_known_by_its_numbers_not_its_filename():
    cite, _ = stream(["Rockets burn hydrogen【0:0†wrong.pdf】 ok"])
    [a] = cite.annotations
    assert a["text"] == "【0:0†wrong.pdf】" and a["file_citation"]["file_id"] == "file-rocket"


def test_quote_is_the_source_sentence_closest_to_the_citing_one():
    source = Source(0, 0, "file-zoo", "zoo.txt",
                    "The zoo opens at nine. Penguins are fed at noon in the cold hall. "
                    "Tickets cost ten euros.")
    cite, _ = stream([f"Penguins get fed at noon{source.marker}."], sources=[source])
    assert cite.annotations[0]["file_citation"]["quote"] == (
        "Penguins are fed at noon in the cold hall.")


def test_marker_split_across_pieces():
    cite, deltas = stream(["Fuel is liquid 【", "0:", "0†rock", "et.txt", "】 indeed"])
    assert cite.text == f"Fuel is liquid {R} indeed"
    [a] = cite.annotations
    assert (a["start_index"], a["end_index"]) == (15, 15 + len(R))
    assert (R, [a]) in deltas
    check_stream(cite, deltas)


def test_any_split_streams_the_same_answer():
    whole, _ = stream([ANSWER])
    assert whole.text == (f"Rockets burn liquid hydrogen{R}. Cats sleep a lot, about 16 hours.{C} "
                          f"Green tea has caffeine and antioxidants!{T} Pi is 3.14 but nobody "
                          f"asked.\nDone{T}")
    assert [a["file_citation"]["file_id"] for a in whole.annotations] == [
        "file-rocket", "file-cats", "file-tea", "file-tea"]
    splits = [[ANSWER[:i], ANSWER[i:]] for i in range(len(ANSWER) + 1)]
    splits.append(list(ANSWER))  # one character at a time
    rng = random.Random(1234)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(ANSWER)), rng.randint(1, 12)))
        splits.append([ANSWER[a:b] for a, b in zip([0, *cuts], [*cuts, len(ANSWER)], strict=True)])
    for pieces in splits:
        cite, deltas = stream(pieces)
        assert cite.text == whole.text, pieces
        assert cite.annotations == whole.annotations, pieces
        check_stream(cite, deltas)


def test_feed_streams_text_as_soon_as_it_is_certain():
    cite = Citations(SOURCES)
    assert cite.feed("Hello there") == [("Hello there", [])]
    assert cite.feed(" friend.") == [(" friend", [])]  # the full stop waits for what follows
    # Not a decimal point after all; a possible marker waits for its closing bracket.
    assert cite.feed("【1:") == [(".", [])]
    assert cite.feed("0†tea.txt】") == [(T, [cite.annotations[0]])]
    assert cite.finish() == []


# --- supported sentences --------------------------------------------------------------------------


def test_uncited_supported_sentence_gets_its_sources_marker():
    assert final("Cats sleep sixteen hours every day. The sky is green.") == (
        f"Cats sleep sixteen hours every day.{C} The sky is green.")


@pytest.mark.parametrize("sentence, cited", [
    ("Cats sleep sixteen hours.", True),
    ("Cats sleep in warm places.", True),
    ("Cats sleep near doors.", False),  # shares two words, but the source says nothing of doors
    ("Cats purr.", False),  # one shared word is not support
    ("Cats.", False),
    ("The cats and the dogs will sleep.", True),  # stop words do not count; 2 of 3 words do
    ("CATS SLEEP loudly.", True),  # case does not matter
    ("Cat sleeps.", True),  # nor the word's form
    ("Cats sleep 12 hours daily.", False),  # the source says sixteen
    ("Cats never sleep in warm places.", False),  # the source says they do
])
def test_support_needs_most_words_its_numbers_and_its_polarity(sentence, cited):
    assert final(sentence) == (sentence + C if cited else sentence)


def test_best_supporting_source_wins_and_ties_go_to_the_first():
    some = Source(0, 0, "file-some", "some.md", "Cats sleep.")
    # Half the words are in `some`, all of them in CATS.
    assert final("Cats sleep sixteen hours.", [some, CATS]) == "Cats sleep sixteen hours." + C
    twin = Source(0, 2, "file-twin", "twin.md", CATS.text)
    assert final("Cats sleep daily.", [twin, CATS]) == "Cats sleep daily." + C


def test_explicitly_cited_sentence_gets_no_second_marker():
    text = f"Cats sleep sixteen hours{R} daily. Rockets use liquid fuel."
    assert final(text) == f"Cats sleep sixteen hours{R} daily. Rockets use liquid fuel.{R}"


def test_marker_after_the_full_stop_belongs_to_the_sentence():
    text = f"Cats sleep sixteen hours.{R} Rockets use liquid fuel."
    assert final(text) == f"Cats sleep sixteen hours.{R} Rockets use liquid fuel.{R}"
    # A dropped marker there leaves the sentence uncited: support decides.
    assert final("Cats sleep sixteen hours.【5:5†x】 Next.") == f"Cats sleep sixteen hours.{C} Next."


def test_newline_ends_a_sentence():
    assert final("Cats sleep sixteen hours\nTea") == f"Cats sleep sixteen hours{C}\nTea"


def test_decimal_point_is_not_a_sentence_end():
    naps = Source(0, 0, "file-naps", "naps.txt", "Kittens nap 3.5 hours after meals.")
    # Cut at "3." neither half would be supported (3 and 5 are not 3.5).
    assert final("Kittens nap 3.5 hours after meals.", [naps]) == (
        f"Kittens nap 3.5 hours after meals.{naps.marker}")


def test_abbreviation_is_not_a_sentence_end():
    # The dot inside "e.g" is handled; the one after it, followed by a space, ends a sentence,
    # so the marker lands mid-sentence: "...places, e.g.【0:1†cats.md】 beds."
    assert final("Cats sleep in warm places, e.g. beds.") == (
        f"Cats sleep in warm places, e.g. beds.{C}")


def test_repeated_sentence_ends():
    assert final("Cats sleep sixteen hours?! Yes...") == f"Cats sleep sixteen hours?!{C} Yes..."


def test_no_sources_no_citations():
    cite, deltas = stream([f"Cats sleep sixteen hours{R}. More."], sources=[])
    assert cite.text == "Cats sleep sixteen hours. More." and cite.annotations == []
    check_stream(cite, deltas)


# --- supported, not merely sharing words (issue 25) ------------------------------------------------

HANDBOOK = Source(0, 0, "file-handbook", "handbook.txt",
                  "The Acme office is open Monday to Thursday from 8 am to 6 pm. The office is "
                  "closed on Fridays and public holidays. Visitors must sign in at reception.")
LEAVE = Source(0, 1, "file-leave", "leave.md",
               "Full-time employees receive 25 days of paid annual leave per calendar year. "
               "Leave requests must be submitted through the HR portal at least two weeks in "
               "advance.")
H, L = HANDBOOK.marker, LEAVE.marker
POLICIES = [HANDBOOK, LEAVE]


def test_a_sentence_the_source_contradicts_is_not_cited():
    # The handbook's words are all there, but it says the office is closed on Fridays.
    assert final("The Acme office is open on Fridays.", POLICIES) == (
        "The Acme office is open on Fridays.")
    assert final("The Acme office is closed on Fridays.", POLICIES) == (
        f"The Acme office is closed on Fridays.{H}")
    assert final("No, the office isn’t open on Fridays.", POLICIES) == (
        f"No, the office isn’t open on Fridays.{H}")


@pytest.mark.parametrize("sentence", [
    "Visitors do not need to sign in at reception.",
    "Visitors are not required to sign in at reception.",
    "Leave requests are optional.",
])
def test_a_flipped_negation_is_not_cited(sentence):
    assert final(sentence, POLICIES) == sentence


def test_a_paraphrase_the_source_supports_is_cited():
    answer = ("Full-time staff get 25 days of paid annual leave each year. Visitors have to sign "
              "in at reception. I hope this helps!")
    assert final(answer, POLICIES) == (
        f"Full-time staff get 25 days of paid annual leave each year.{L} Visitors have to sign "
        f"in at reception.{H} I hope this helps!")


@pytest.mark.parametrize("sentence", [
    "Full-time employees receive 20 days of paid annual leave per calendar year.",
    "Full-time employees receive twenty days of paid annual leave.",
    "The Acme office is open Monday to Thursday from 9 am to 5 pm.",
])
def test_a_sentence_with_a_wrong_number_is_not_cited(sentence):
    assert final(sentence, POLICIES) == sentence


def test_numbers_match_in_words_or_digits():
    assert final("Full-time employees receive twenty-five days of paid annual leave.", POLICIES) == (
        f"Full-time employees receive twenty-five days of paid annual leave.{L}")


def test_same_topic_but_another_claim_is_not_cited():
    sentence = "Part-time employees can carry unused leave over to the next year."
    assert final(sentence, POLICIES) == sentence


def test_the_models_own_marker_stays_even_where_support_would_not_cite():
    # A marker is the model's explicit citation: it becomes an annotation as before.
    cite, deltas = stream([f"The Acme office is open on Fridays{H}. Visitors sign in at reception."],
                          POLICIES)
    assert cite.text == f"The Acme office is open on Fridays{H}. Visitors sign in at reception.{H}"
    assert [(a["text"], a["file_citation"]["file_id"]) for a in cite.annotations] == [
        (H, "file-handbook"), (H, "file-handbook")]
    check_stream(cite, deltas)


def test_deltas_add_up_to_the_text_whatever_is_cited():
    answer = ("The Acme office is open on Fridays. The office is closed on Fridays! Staff get "
              "25 days of paid annual leave.\nVisitors must sign in at reception")
    whole, _ = stream([answer], POLICIES)
    assert [a["text"] for a in whole.annotations] == [H, L, H]
    rng = random.Random(25)
    for _ in range(100):
        cuts = sorted(rng.sample(range(1, len(answer)), rng.randint(1, 10)))
        pieces = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
        cite, deltas = stream(pieces, POLICIES)
        assert cite.text == whole.text and cite.annotations == whole.annotations, pieces
        check_stream(cite, deltas)


def test_auto_off_cites_only_the_models_markers():
    cite = CoreCitations(POLICIES, auto=False)
    deltas = cite.feed(f"The office is closed on Fridays. Visitors must sign in{H}.") + cite.finish()
    assert cite.text == f"The office is closed on Fridays. Visitors must sign in{H}."
    assert [a.text for a in cite.annotations] == [H]
    assert "".join(text for text, _ in deltas) == cite.text


# --- text that is not a marker --------------------------------------------------------------------


def test_unclosed_bracket_at_the_end_is_plain_text():
    cite, deltas = stream(["See 【0:0†rock"])
    assert cite.text == "See 【0:0†rock" and cite.annotations == []
    check_stream(cite, deltas)


def test_overlong_bracket_is_let_through():
    text = "Intro 【" + "x" * 250 + " end. Tail"
    cite, deltas = stream([text])
    assert cite.text == text
    check_stream(cite, deltas)


def test_bracketed_words_that_are_not_a_marker_stay():
    # Bracketed words (common in Chinese and Japanese text) are the answer's own, not a marker.
    assert final("【Note】 Keep the lid closed.") == "【Note】 Keep the lid closed."


# --- sandbox links --------------------------------------------------------------------------------


def test_link_files_annotates_sandbox_links_to_produced_files():
    text = (f"Rockets burn hydrogen{R}. Get [the chart](sandbox:/mnt/data/chart.png) or "
            "sandbox:/mnt/data/out.csv. Not sandbox:/mnt/data/other.txt!")
    cite, _ = stream([text])
    new = cite.link_files({"/mnt/data/chart.png": "file-chart", "/mnt/data/out.csv": "file-out"})
    assert [(a["index"], a["type"], a["text"], a["file_path"]) for a in new] == [
        (1, "file_path", "sandbox:/mnt/data/chart.png", {"file_id": "file-chart"}),
        (2, "file_path", "sandbox:/mnt/data/out.csv", {"file_id": "file-out"})]
    for a in new:
        assert cite.text[a["start_index"]:a["end_index"]] == a["text"]
    assert cite.text[new[1]["end_index"]] == "."  # the full stop is not part of the link
    assert cite.annotations[1:] == new
    assert [a["type"] for a in cite.content()[0]["text"]["annotations"]] == [
        "file_citation", "file_path", "file_path"]
    assert cite.link_files({}) == []
