"""Tool-call evaluation: does the server call the right function (or answer), with valid arguments?

Run: .venv/bin/python scripts/eval/tool_calls.py [--model NAME_OR_GGUF] [--models-config FILE]
                                                 [--split dev|test|all] [--model-only]
                                                 [--write docs/benchmarks.md [--label before]]

Dev and test halves. Each case carries its half ("dev" or "test") as written in CASES: the cases
alternate in list order, which is grouped by expected function, so both halves hold every
function and both call and answer cases. The halves are data, never recomputed. Any setting of
the engine or the model (decision thresholds, prompts, sampling) is chosen on the dev half ONLY;
the test half is what is reported (the default) and nobody may pick a setting by its numbers.

Each case is a user message, the tools on offer, and what a good assistant does: call a named
function, or answer. Every case runs twice on the engine's own prompt (instructions, the generic
tool section, grammar-constrained decoding):
  - tool_choice "auto", decided as the server decides it: first the server's own decision
    (airlock.engine.core.function_intent.decide: the message against the functions by
    all-MiniLM-L6-v2 similarity and name cues) forces a function, suppresses calls ("none"), or
    leaves the decision to the model (then the model's opener probability decides, tool_choice
    "auto"). Is the decision right? (correct-decision rate, reported as it is). `--model-only`
    skips the server's decision: the model alone, as before issue 25;
  - tool_choice forced to the expected function (or "required" for answer cases): do the
    arguments parse and validate against the schema? (schema-valid-argument rate, must be 100%)
    and do they hold every property the schema declares (models.json_grammar.all_declared:
    all but those with a default or no constraint), as real models send them?
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jsonschema

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from _report import write_section  # noqa: E402

from airlock.engine.core.function_intent import decide  # noqa: E402
from airlock.engine.core.prompt import fit  # noqa: E402
from airlock.models.backend import TurnRequest  # noqa: E402
from airlock.models.json_grammar import all_declared  # noqa: E402
from airlock.models.registry import Registry  # noqa: E402
from airlock.tools.file_search import Embedder  # noqa: E402


def fn(name, description, properties, required):
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}


S = {"type": "string"}
TOOLS = [
    fn("get_weather", "Get the current weather for a city",
       {"city": S, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["city"]),
    fn("display_quiz", "Display a quiz to the student and return their answers",
       {"title": S, "questions": {"type": "array", "items": {"type": "object", "properties": {
           "question_text": S, "question_type": {"type": "string", "enum": [
               "MULTIPLE_CHOICE", "FREE_RESPONSE"]}, "choices": {"type": "array", "items": S}},
           "required": ["question_text"]}}}, ["title", "questions"]),
    fn("calculate", "Evaluate an arithmetic expression", {"expression": S}, ["expression"]),
    fn("send_email", "Send an email", {"to": S, "subject": S, "body": S}, ["to", "subject", "body"]),
    fn("set_reminder", "Set a reminder at a time",
       {"text": S, "time": S}, ["text", "time"]),
    fn("convert_currency", "Convert an amount between currencies",
       {"amount": {"type": "number"}, "from_currency": S, "to_currency": S},
       ["amount", "from_currency", "to_currency"]),
    fn("search_flights", "Search flights between two cities on a date",
       {"origin": S, "destination": S, "date": S}, ["origin", "destination", "date"]),
]
CASES = [
    ("What's the weather in Paris right now?", "get_weather", "dev"),
    ("Is it raining in London today?", "get_weather", "test"),
    ("Tell me the temperature in Tokyo in fahrenheit.", "get_weather", "dev"),
    ("How cold is it in Moscow?", "get_weather", "test"),
    ("Quiz me on the planets of the solar system.", "display_quiz", "dev"),
    ("Give me a short quiz with two questions about fractions.", "display_quiz", "test"),
    ("Make a multiple choice quiz about world capitals.", "display_quiz", "dev"),
    ("What is 1234 times 5678?", "calculate", "test"),
    ("Compute (17 + 25) * 3.", "calculate", "dev"),
    ("Calculate the square of 47.", "calculate", "test"),
    ("Email bob@example.com that the meeting moved to 3pm.", "send_email", "dev"),
    ("Send an email to alice@example.com with subject Hello saying hi.", "send_email", "test"),
    ("Write to hr@example.com asking for a day off tomorrow.", "send_email", "dev"),
    ("Remind me to call mom at 6pm.", "set_reminder", "test"),
    ("Set a reminder for the dentist tomorrow at 9am.", "set_reminder", "dev"),
    ("Please remind me to water the plants at 8.", "set_reminder", "test"),
    ("How many euros is 100 US dollars?", "convert_currency", "dev"),
    ("Convert 2500 yen to dollars.", "convert_currency", "test"),
    ("Find me flights from Boston to Denver on May 3.", "search_flights", "dev"),
    ("Are there flights from Madrid to Rome next Friday?", "search_flights", "test"),
    ("Hello! How are you?", None, "dev"),
    ("Thanks, that was helpful.", None, "test"),
    ("What is the capital of Italy?", None, "dev"),
    ("Tell me a joke about cats.", None, "test"),
    ("Who wrote Romeo and Juliet?", None, "dev"),
    ("Explain what photosynthesis is in one sentence.", None, "test"),
    ("Good morning!", None, "dev"),
    ("What does the word 'ephemeral' mean?", None, "test"),
    ("Write a haiku about autumn.", None, "dev"),
    ("Can you summarize what a noun is?", None, "test"),
]
INSTRUCTIONS = "You are a helpful assistant."


def run_case(backend, text: str, choice):
    messages, _ = fit(backend, INSTRUCTIONS, [{"role": "user", "content": text}],
                      budget=backend.n_ctx - 512, tools=TOOLS, tool_choice=choice)
    request = TurnRequest(messages=messages, max_tokens=256, temperature=0.0, tools=TOOLS,
                          tool_choice=choice, parallel_tool_calls=False, thread_id=None)
    return backend.generate(request, lambda _: None, lambda: False)


def holds_declared(value, schema) -> bool:
    """Whether `value` holds every property `all_declared(schema)` requires, at every depth."""
    if isinstance(value, list):
        items = schema.get("items")
        return all(holds_declared(v, items) for v in value) if isinstance(items, dict) else True
    if not isinstance(value, dict):
        return True
    props = schema.get("properties") or {}
    return all(p in value for p in schema.get("required", [])) and all(
        holds_declared(value[p], sub) for p, sub in props.items() if p in value)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--models-config")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test",
                    help="which half to run (default test, the reported one; tune on dev only)")
    ap.add_argument("--model-only", action="store_true",
                    help="the model decides alone (no server decision): the code before issue 25")
    ap.add_argument("--write")
    ap.add_argument("--label", help="suffix of the doc section (e.g. before), to keep tables apart")
    args = ap.parse_args()
    cases = [(text, expected) for text, expected, half in CASES
             if args.split == "all" or half == args.split]
    registry = Registry.load(args.model, args.models_config)
    backend = registry.backend(registry.default)
    # The server's embedder (airlock.engine.search builds it the same way, with its data dir's
    # cache of the converted model).
    embed = None if args.model_only else Embedder().embed
    schemas = {t["name"]: t["parameters"] for t in TOOLS}
    right = valid = calls = called_right = complete = 0
    server = {"forced": 0, "none": 0, "model": 0}
    misses = []
    t0 = time.perf_counter()
    for text, expected in cases:
        choice = decide(text, TOOLS, embed) if embed is not None else None
        server["model" if choice is None else "none" if choice == "none" else "forced"] += 1
        got = run_case(backend, text, "auto" if choice is None else choice).tool_calls
        decision = got[0]["name"] if got else None
        right += decision == expected
        called_right += (decision is None) == (expected is None)
        if decision != expected:
            misses.append(f"{text!r}: expected {expected or 'answer'}, got {decision or 'answer'}"
                          f" (server: {choice or 'model decides'})")
        forced = run_case(backend, text, {"name": expected} if expected else "required")
        for c in forced.tool_calls + got:
            calls += 1
            try:
                arguments = json.loads(c["arguments"])
                jsonschema.validate(arguments, schemas[c["name"]])
                valid += 1
            except (ValueError, jsonschema.ValidationError) as exc:
                misses.append(f"INVALID {c}: {exc}")
                continue
            if holds_declared(arguments, all_declared(schemas[c["name"]])):
                complete += 1
            else:
                misses.append(f"INCOMPLETE {c}")
    seconds = time.perf_counter() - t0
    registry.close()
    n = len(cases)
    decided = "model alone" if args.model_only else (
        f"forced {server['forced']}, none {server['none']}, model {server['model']}")
    table = "\n".join([
        "| model | half | cases | server's decision | correct-decision rate (auto: right "
        "function, or answer) | of which call-vs-answer right | schema-valid-argument rate "
        "| arguments with every declared property | time |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {registry.default} | {args.split} | {n} | {decided} "
        f"| {right}/{n} = **{right / n:.0%}** | {called_right}/{n} = {called_right / n:.0%} "
        f"| {valid}/{calls} = **{valid / calls:.0%}** | {complete}/{calls} = {complete / calls:.0%} "
        f"| {seconds:.0f} s |",
    ])
    print(table)
    print("\n".join(misses), file=sys.stderr)
    if args.write:
        command = "python scripts/eval/tool_calls.py " + " ".join(sys.argv[1:])
        # One section per model and half, so the two models' tables (and halves) sit side by side.
        name = f"eval-tools-{registry.default}" + ("" if args.split == "test" else f"-{args.split}")
        title = f"Evaluation: tool calls ({registry.default}, {args.split} half"
        if args.label:
            name, title = f"{name}-{args.label}", f"{title}, {args.label}"
        write_section(Path(args.write), name, title + ")", table, 1, command)


if __name__ == "__main__":
    main()
