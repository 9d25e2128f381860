"""The pytest plugin (entry point `pytest11: airlock`): a real airlock server on the scripted
model for tests of Assistants-based apps.

- `airlock_server` (session): one `airlock serve --model scripted --scripted-strict` subprocess
  on a free port with a temporary data dir, started when a test first asks for it.
- `airlock` (function): an `airlock.testing.Airlock` handle on it. Before the test every
  scripted queue is emptied; after it the objects the test created are deleted (opt out with
  `@pytest.mark.airlock(cleanup=False)` or the ini option `airlock_cleanup = false`).
- `airlock_env` (function): `airlock` with OPENAI_BASE_URL and OPENAI_API_KEY set.

pytest imports this module in every run of an environment that has airlock installed, airlock's
own suite included: at import it only declares, and nothing starts unless a fixture is used.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airlock.testing.handle import Airlock
    from airlock.testing.server import AirlockServer

LOG_SECTION_LINES = 60
# Where the server's log stood when a test began: a failure report shows what it logged since.
_LOG_START: pytest.StashKey[tuple[AirlockServer, int]] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("airlock_strict", type="bool", default=True,
                  help="airlock: a scripted run with no reply queued fails, naming its thread "
                       "(false: it echoes the last user message)")
    parser.addini("airlock_cleanup", type="bool", default=True,
                  help="airlock: delete the objects each test created, after it")
    parser.addini("airlock_server_args", type="args", default=[],
                  help="airlock: more `airlock serve` flags for the test server")
    parser.addini("airlock_startup_timeout", default="60",
                  help="airlock: seconds the test server may take to answer /health")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "airlock(cleanup=True): options of the airlock fixture for this test; "
                   "cleanup=False keeps the objects it created")


@pytest.fixture(scope="session")
def airlock_server(tmp_path_factory: pytest.TempPathFactory,
                   pytestconfig: pytest.Config) -> Iterator[AirlockServer]:
    """A running airlock server on the scripted model, shared by the session."""
    from airlock.testing.server import AirlockServer, ServerStartError

    server = AirlockServer(
        tmp_path_factory.mktemp("airlock"),
        strict=bool(pytestconfig.getini("airlock_strict")),
        extra_args=list(pytestconfig.getini("airlock_server_args")),
        startup_timeout_s=float(pytestconfig.getini("airlock_startup_timeout")),
    )
    try:
        server.start()
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def airlock(airlock_server: AirlockServer, request: pytest.FixtureRequest) -> Iterator[Airlock]:
    """The test's handle on the airlock server: `base_url`, `api_key`, `client`, `async_client`,
    and the scripted model's queue (`reply`, `call_function`, `search_files`, `run_code`, ...)."""
    from airlock.testing import isolation
    from airlock.testing.handle import Airlock

    if (why := airlock_server.exited()) is not None:
        pytest.fail(why, pytrace=False)
    handle = Airlock(airlock_server.root_url, airlock_server.api_key)
    request.node.stash[_LOG_START] = (airlock_server, airlock_server.log_size())
    try:
        handle.clear()
        before = isolation.snapshot(handle) if _cleanup_wanted(request) else None
        yield handle
        if before is None:
            handle.clear()
        else:
            isolation.clean_up(handle, before)
    finally:
        handle.close()


@pytest.fixture
def airlock_env(airlock: Airlock, monkeypatch: pytest.MonkeyPatch) -> Airlock:
    """`airlock`, with OPENAI_BASE_URL and OPENAI_API_KEY pointing `openai.OpenAI()` at it."""
    for name, value in airlock.env.items():
        monkeypatch.setenv(name, value)
    return airlock


def _cleanup_wanted(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("airlock")
    if marker is not None and "cleanup" in marker.kwargs:
        return bool(marker.kwargs["cleanup"])
    return bool(request.config.getini("airlock_cleanup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                               ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test using airlock shows what the server logged meanwhile (a failed run's error,
    a traceback)."""
    report = yield
    started = item.stash.get(_LOG_START, None)
    if started is not None and report.failed:
        server, offset = started
        lines = server.log_since(offset).splitlines()[-LOG_SECTION_LINES:]
        if lines:
            report.sections.append(("airlock server log", "\n".join(lines)))
    return report
