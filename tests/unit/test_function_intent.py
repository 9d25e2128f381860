"""The server's decision whether a message plainly asks for a function
(airlock/engine/core/function_intent.py), with the real all-MiniLM-L6-v2 embedder."""

from __future__ import annotations

import numpy as np
import pytest

from airlock.engine.core import function_intent
from airlock.engine.core.function_intent import decide
from airlock.tools.file_search import Embedder

S = {"type": "string"}
DISPLAY_QUIZ = {
    "name": "display_quiz", "description": "Display a quiz to the student and return their answers",
    "parameters": {"type": "object", "properties": {
        "title": S, "questions": {"type": "array", "items": {"type": "object", "properties": {
            "question_text": S, "question_type": {"type": "string", "enum": [
                "MULTIPLE_CHOICE", "FREE_RESPONSE"]}, "choices": {"type": "array", "items": S}},
            "required": ["question_text"]}}}, "required": ["title", "questions"]}}
GET_WEATHER = {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {
        "city": S, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"]}}
FUNCTIONS = [DISPLAY_QUIZ, GET_WEATHER]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Embedder:
    return Embedder(cache_dir=tmp_path_factory.mktemp("models"))


class Counting:
    """The embedder's embed, counting the texts it is asked for."""

    def __init__(self, embedder: Embedder):
        self.embedder, self.texts = embedder, 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.embedder.embed(texts)


def test_a_quiz_request_forces_display_quiz(embedder):
    assert decide("Quiz me on fractions", FUNCTIONS, embedder.embed) == {"name": "display_quiz"}


def test_a_greeting_forces_no_function(embedder):
    assert decide("Hello!", FUNCTIONS, embedder.embed) in (None, "none")


def test_a_plainly_unrelated_message_suppresses_calls(embedder):
    assert decide("Who wrote Romeo and Juliet?", FUNCTIONS, embedder.embed) == "none"


def test_nothing_to_decide_leaves_it_to_the_model(embedder):
    assert decide("Quiz me on fractions", [], embedder.embed) is None
    assert decide("   ", FUNCTIONS, embedder.embed) is None


def test_builtins_are_not_its_concern(embedder):
    builtins = [{"name": "file_search", "description": "Search the user's uploaded files",
                 "parameters": {"type": "object", "properties": {"query": S}}},
                {"name": "code_interpreter", "description": "Run Python code",
                 "parameters": {"type": "object", "properties": {"code": S}}}]
    assert decide("Search my files for the refund policy", builtins, embedder.embed) is None
    assert decide("Quiz me on fractions", builtins + [GET_WEATHER, DISPLAY_QUIZ],
                  embedder.embed) == {"name": "display_quiz"}


def test_chat_completions_wrapping_is_understood(embedder):
    wrapped = [{"type": "function", "function": f} for f in FUNCTIONS]
    assert decide("Quiz me on fractions", wrapped, embedder.embed) == {"name": "display_quiz"}


def test_one_embedding_of_the_message_per_turn(embedder):
    function_intent._vectors.clear()
    embed = Counting(embedder)
    decide("Quiz me on fractions", FUNCTIONS, embed)
    first = embed.texts
    assert first > 1  # the message and the functions' texts
    decide("What's the weather in Oslo?", FUNCTIONS, embed)
    assert embed.texts == first + 1  # the functions' embeddings are cached
    changed = [{**GET_WEATHER, "description": "Get tomorrow's forecast for a city"}, DISPLAY_QUIZ]
    decide("What's the weather in Oslo?", changed, embed)
    assert embed.texts > first + 2  # a changed function is embedded again


def test_name_cues_need_a_distinctive_word():
    assert function_intent._name_words("get_weather") == ["weather"]
    assert function_intent._name_words("displayQuiz") == ["quiz"]
    words = function_intent._words("Please remind me; any quizzes?")
    assert function_intent._cue_in("reminder", words)
    assert function_intent._cue_in("quiz", words)
    assert not function_intent._cue_in("weather", function_intent._words("we wear hats"))
