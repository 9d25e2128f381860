"""CPU use (airlock.cpu): the thread-count tuner follows measured speed as the load changes."""

from __future__ import annotations

import pytest

from airlock import cpu
from airlock.cpu import ThreadTuner, candidates, wait_policy


def drive(tuner: ThreadTuner, cost: dict[int, float], evals: int) -> list[int]:
    """Runs `evals` single-token evaluations whose cost at each count is `cost`; the counts
    used, in order."""
    used = []
    for _ in range(evals):
        n = tuner.pick()
        tuner.record(n, 1, cost[n])
        used.append(n)
    return used


def test_starts_with_every_core_then_keeps_the_faster_count():
    tuner = ThreadTuner([1, 2])
    assert tuner.pick() == 2
    used = drive(tuner, {1: 0.020, 2: 0.011}, 1000)  # a quiet machine: two threads win
    assert tuner.current == 2
    # One is tried now and then, for a few evaluations: a small share of the work.
    assert 0 < used.count(1) <= 0.05 * len(used)


def test_moves_to_one_thread_when_two_collapse_and_back_when_the_load_goes():
    tuner = ThreadTuner([1, 2])
    drive(tuner, {1: 0.020, 2: 0.011}, 300)
    assert tuner.current == 2
    # Other processes take the cores: two threads spin at their barriers.
    busy = drive(tuner, {1: 0.040, 2: 0.400}, 200)
    assert tuner.current == 1
    # The switch came within a trial of the change, not after a full exploration period.
    assert busy.index(1) < cpu.WINDOW + cpu.PROBE_EVALS
    # Two threads were 10x slower: they are tried more rarely, within the trials' budget...
    slow = drive(tuner, {1: 0.040, 2: 0.400}, 3000)
    trial_time = slow.count(2) * 0.400
    assert trial_time <= 1.5 * cpu.TRIAL_BUDGET * (slow.count(1) * 0.040 + trial_time)
    # ... but one thread getting faster (the load went) brings the next trial forward.
    drive(tuner, {1: 0.020, 2: 0.011}, 2 * cpu.WINDOW)
    assert tuner.current == 2


def test_under_saturation_a_trial_of_more_threads_is_one_evaluation_and_rare():
    """Two busy processes hold both cores: two spinning threads take a second a token."""
    tuner = ThreadTuner([1, 2])
    used = drive(tuner, {1: 0.040, 2: 1.0}, 4000)
    assert tuner.current == 1
    # It started on two threads; once on one, each trial of two was a single evaluation, and
    # all of them together took a few percent of the time.
    after = used[used.index(1):]
    trials = [i for i, n in enumerate(after) if n == 2]
    assert trials and all(b - a > 1 for a, b in zip(trials, trials[1:], strict=False))
    two = len(trials) * 1.0
    assert two <= 1.5 * cpu.TRIAL_BUDGET * (after.count(1) * 0.040 + two)


def test_one_thread_getting_slower_does_not_try_more_threads():
    tuner = ThreadTuner([1, 2])
    drive(tuner, {1: 0.020, 2: 0.100}, 200)
    assert tuner.current == 1
    tried = drive(tuner, {1: 0.060, 2: 1.0}, 100)  # the load rose: one thread slowed down
    assert 2 not in tried


def test_prompt_batches_are_compared_per_token():
    tuner = ThreadTuner([1, 2])
    for _ in range(40):
        n = tuner.pick()
        tokens = 100
        tuner.record(n, tokens, tokens * (0.002 if n == 2 else 0.003))
    assert tuner.current == 2 and tuner.cost(2) == pytest.approx(0.002)


def test_a_fixed_count_is_never_tuned():
    tuner = ThreadTuner([3])
    assert tuner.fixed
    assert set(drive(tuner, {3: 1.0}, 500)) == {3}


def test_candidates_are_one_half_and_all():
    assert candidates(1) == (1,)
    assert candidates(2) == (1, 2)
    assert candidates(8) == (1, 4, 8)


def test_the_log_says_which_wait_policy_applies():
    assert "from the environment: OMP_WAIT_POLICY=PASSIVE" in wait_policy(
        {"OMP_WAIT_POLICY": "PASSIVE"})
    assert "libgomp's default" in wait_policy({})
