"""What the model reads after its code_interpreter session moved to another replica (the one that
held its kernel died): told the session restarted, and that files it wrote are gone."""

from __future__ import annotations

from airlock.engine.core.builtins import MOVED_NOTE, RESET_NOTE, for_model
from airlock.tools.code_interpreter import Execution


def test_a_moved_session_is_told_before_the_output():
    out = for_model(Execution(logs="NameError: name 'x' is not defined"), [], {}, moved=True)
    assert out.startswith(MOVED_NOTE)
    assert "variables and files written to /mnt/data are gone" in out
    assert out.endswith("NameError: name 'x' is not defined")


def test_a_move_is_told_once_even_when_the_kernel_was_also_fresh_here():
    out = for_model(Execution(logs="1", state_reset=True), [], {}, moved=True)
    assert out.count("[The Python session was restarted") == 1 and RESET_NOTE not in out


def test_an_idle_reset_on_the_same_replica_keeps_its_own_note():
    assert for_model(Execution(logs="1", state_reset=True), [], {}).startswith(RESET_NOTE)
    assert "restarted" not in for_model(Execution(logs="1"), [], {})
