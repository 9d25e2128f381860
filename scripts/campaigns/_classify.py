"""pytest plugin for sdk_generated.py: sorts each generated test's outcome into what it says about
airlock. The generated tests expect a mock that answers every call with an example body, so a
4xx from a real server is a refusal to report (with its reason), not a shape failure."""

from __future__ import annotations

import json
import os
from collections import Counter

import openai
import pydantic

OUTCOMES: Counter[tuple[str, str, str]] = Counter()


def _kind(exc: BaseException | None) -> tuple[str, str]:
    if exc is None:
        return "passed", ""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = str(getattr(exc, "message", exc)).split(" - ", 1)[-1][:110]
        return ("5xx" if status >= 500 else f"refused {status}"), message
    # The SDK validates the raw body before its post-parser decodes base64 embeddings, so a
    # strict client that leaves encoding_format to its base64 default fails on any server.
    text = f"{exc} {exc.__cause__}"
    if isinstance(exc, (openai.APIResponseValidationError, pydantic.ValidationError)) and \
            "input_type=str" in text and ".embedding" in text:
        return "client: strict + base64 default", "the SDK validates before decoding"
    if isinstance(exc, (openai.APIResponseValidationError, pydantic.ValidationError,
                        AssertionError)):
        return "SHAPE FAILURE", str(exc).splitlines()[0][:110]
    return "other", f"{type(exc).__name__}: {str(exc)[:100]}"


def pytest_runtest_makereport(item, call):
    if call.when != "call":
        return
    kind, why = _kind(call.excinfo.value if call.excinfo else None)
    OUTCOMES[(item.path.name, kind, why)] += 1


def pytest_sessionfinish(session):
    rows = [[f, k, w, n] for (f, k, w), n in sorted(OUTCOMES.items())]
    with open(os.environ["AIRLOCK_CAMPAIGN_OUT"], "w") as out:
        json.dump(rows, out)
