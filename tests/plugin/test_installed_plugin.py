"""The plugin as a user meets it: pytest, in a fresh project with no conftest and no `-p`, loads
it through the installed `pytest11` entry point (each run is a subprocess with its own server)."""

from __future__ import annotations

import re
from pathlib import Path

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
TIMEOUT_S = 300
ARGS = ("-p", "no:cacheprovider", "--strict-markers")


def readme_example() -> str:
    section = README.read_text().split("## Testing your app with the pytest plugin", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README's plugin section has no python example"
    return found.group(1)


def test_the_readme_example_passes(pytester):
    pytester.makepyfile(test_weather=readme_example())
    result = pytester.runpytest_subprocess(*ARGS, timeout=TIMEOUT_S)
    result.assert_outcomes(passed=1)


USER_TESTS = '''
import pytest


def test_forgot_to_script_a_turn(airlock):
    client = airlock.client
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    print("THREAD", thread.id)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error.message


KEPT = {}


@pytest.mark.airlock(cleanup=False)
def test_keeps_what_it_made(airlock):
    KEPT["id"] = airlock.client.beta.assistants.create(model="gpt-4o", name="kept").id


def test_sees_what_the_previous_test_kept(airlock):
    assert airlock.client.beta.assistants.retrieve(KEPT["id"]).name == "kept"
'''


def test_a_forgotten_turn_fails_naming_its_thread_and_cleanup_can_be_kept(pytester):
    pytester.makepyfile(test_app=USER_TESTS)
    result = pytester.runpytest_subprocess(*ARGS, timeout=TIMEOUT_S)
    result.assert_outcomes(passed=2, failed=1)
    thread_id = re.search(r"THREAD (thread_\w+)", result.stdout.str()).group(1)
    result.stdout.fnmatch_lines([
        f"E * The model failed: No scripted reply queued for thread {thread_id} *",
        "*- airlock server log -*",
        f"*ScriptedFailure: No scripted reply queued for thread {thread_id} *",
    ])


def test_strict_off_in_the_ini_brings_back_the_echo(pytester):
    pytester.makepyfile(test_echo='''
def test_echo(airlock):
    client = airlock.client
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert client.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "You said: Hi"
''')
    result = pytester.runpytest_subprocess(*ARGS, "-o", "airlock_strict=false", timeout=TIMEOUT_S)
    result.assert_outcomes(passed=1)


def test_a_run_that_never_asks_for_the_fixture_loads_nothing_heavy(pytester):
    pytester.makepyfile(test_plain='''
import sys


def test_plain():
    watched = {"airlock.testing.plugin", "airlock.testing.handle", "airlock.testing.server",
               "httpx", "openai"}
    assert watched & set(sys.modules) == {"airlock.testing.plugin"}
''')
    result = pytester.runpytest_subprocess(*ARGS, timeout=TIMEOUT_S)
    result.assert_outcomes(passed=1)
