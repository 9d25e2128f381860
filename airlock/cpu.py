"""CPU use: how many threads the model (and the embedder) compute with, and how idle threads wait.

Imported by airlock.models and airlock.tools; imports nothing of airlock.

On a shared machine no fixed setting is right (docs/benchmarks.md, "Decode under CPU
contention"): llama.cpp's CPU backend is built with OpenMP, whose threads spin at every barrier
(hundreds per token) before they sleep. On a quiet machine two threads beat one; when other
processes hold the cores, a thread spins while the thread it waits for is not running, and two
threads fall far below one. So:

- **The thread count** is chosen while the model runs: `ThreadTuner` times each evaluation at
  the count it used (seconds per token), keeps using the fastest and now and then tries the
  others for a few tokens, so it follows the machine's load as it changes. A model configured
  with a fixed `n_threads` uses that count and is never tuned.
- **The wait policy** is a process-wide OpenMP setting that libgomp reads once, when it loads,
  so it cannot follow the load. airlock keeps libgomp's default (spin ~3 ms, then sleep):
  with the tuner choosing the count, no other fixed policy did better (docs/benchmarks.md):
  shorter spins lose up to half the quiet speed and OMP_WAIT_POLICY=PASSIVE two thirds of it;
  longer spins and ACTIVE gain nothing when the machine is quiet and lose more when it is
  saturated; PASSIVE wins only when busy processes saturate every core. An operator who knows
  the host is always oversubscribed may set OMP_WAIT_POLICY or GOMP_SPINCOUNT; `wait_policy`
  says which applies.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Mapping

log = logging.getLogger("airlock.cpu")

_OPENMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def wait_policy(env: Mapping[str, str] | None = None) -> str:
    """A line for the log saying which OpenMP wait policy applies."""
    env = os.environ if env is None else env
    chosen = {k: env[k] for k in _OPENMP_VARS if k in env}
    if chosen:
        return "OpenMP wait policy from the environment: " + ", ".join(
            f"{k}={v}" for k, v in sorted(chosen.items()))
    return "OpenMP wait policy: libgomp's default (spin, then sleep)"


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def candidates(most: int) -> tuple[int, ...]:
    """The thread counts worth comparing when up to `most` may be used: one, half, all."""
    return tuple(sorted({1, max(1, most // 2), max(1, most)}))


# An evaluation's cost is kept over this many recent evaluations of the same count.
WINDOW = 16
# How often (evaluations at the chosen count) the other counts are tried again at least, and
# for how many evaluations each: ~2% of a quiet machine's decode goes to trying the slower count.
EXPLORE_EVERY = 160
PROBE_EVALS = 3
# Trials of counts far slower than the chosen one are spaced out so that they cost at most
# this share of the time: under load two spinning threads can be 10x slower than one.
TRIAL_BUDGET = 0.03
# The chosen count's cost moving by this factor from what it was when chosen (the load
# changed) brings the next trial forward: of more threads when it got faster (the load fell),
# of fewer when it got slower (the load rose; more threads would only be slower still).
SHIFT = 1.5
# A trial evaluation this many times slower than the chosen count ends that count's trial at
# once: under load one token on two spinning threads can take a second.
ABORT = 3.0


class ThreadTuner:
    """Picks the thread count with the lowest measured seconds per token, trying the others
    now and then. Not thread-safe: one per model context, used under its lock."""

    def __init__(self, choices: Iterable[int], start: int | None = None, *,
                 explore_every: int = EXPLORE_EVERY, probe: int = PROBE_EVALS):
        self.choices = tuple(sorted(set(choices)))
        if not self.choices or self.choices[0] < 1:
            raise ValueError("thread counts must be positive")
        self.explore_every, self.probe = explore_every, probe
        self.current = start if start in self.choices else self.choices[-1]
        self._costs: dict[int, deque[float]] = {n: deque(maxlen=WINDOW) for n in self.choices}
        self._since = 0  # evaluations at the current count since the last trial
        self._every = explore_every  # ... and how many it waits for (grows for slow counts)
        self._trying: list[int] = []  # counts still to try in this round, in order
        self._left = 0  # evaluations left for the count being tried
        self._chosen_cost: float | None = None
        self.switches = 0

    @property
    def fixed(self) -> bool:
        return len(self.choices) == 1

    def cost(self, n: int) -> float | None:
        """Mean seconds per token of the recent evaluations at `n` threads."""
        samples = self._costs[n]
        return sum(samples) / len(samples) if samples else None

    def pick(self) -> int:
        """The thread count for the next evaluation."""
        if self.fixed:
            return self.current
        if not self._trying and (due := self._due()):
            self._trying = due
            self._left = self.probe
            # A trial starts fresh: the counts' costs are compared as of now.
            for n in self._trying:
                self._costs[n].clear()
        return self._trying[0] if self._trying else self.current

    def record(self, n: int, tokens: int, seconds: float) -> None:
        """What an evaluation of `tokens` tokens at `n` threads took."""
        if self.fixed or n not in self._costs or tokens < 1:
            return
        cost = seconds / tokens
        self._costs[n].append(cost)
        if self._trying and n == self._trying[0]:
            self._left -= 1
            chosen = self.cost(self.current)
            if chosen is not None and cost > ABORT * chosen:
                self._left = 0  # far slower: one evaluation says enough
            if self._left <= 0:
                self._trying.pop(0)
                self._left = self.probe
                if not self._trying:
                    self._settle()
        elif n == self.current:
            self._since += 1

    def _due(self) -> list[int]:
        """The counts to try now, in order; none when no trial is due."""
        others = [n for n in self.choices if n != self.current]
        known = len(self._costs[self.current])
        untried = [n for n in others if not self._costs[n]]
        if untried and self._chosen_cost is None:
            return untried if known >= self.probe else []  # never tried: soon
        if self._since >= self._every:
            return others
        now = self.cost(self.current)
        if now is None or self._chosen_cost is None or known < WINDOW:
            return []
        if now * SHIFT < self._chosen_cost:
            due = [n for n in others if n > self.current]
        elif now > self._chosen_cost * SHIFT:
            due = [n for n in others if n < self.current]
        else:
            return []
        if not due:
            self._chosen_cost = now  # nothing to try that way: the new cost is the baseline
        return due

    def _settle(self) -> None:
        current = self.cost(self.current)
        # The chosen count's own cost over its last few evaluations, as recent as the trial's.
        recent = list(self._costs[self.current])[-self.probe:]
        if recent:
            current = sum(recent) / len(recent)
        costs = {n: c for n in self.choices
                 if (c := current if n == self.current else self.cost(n)) is not None}
        best = min(costs, key=lambda n: costs[n])
        if best != self.current:
            log.debug("threads: %d -> %d (%s)", self.current, best, ", ".join(
                f"{n}: {1 / c:.0f} tok/s" for n, c in sorted(costs.items()) if c > 0))
            self.current = best
            self.switches += 1
        self._chosen_cost = costs[best]
        self._since = 0
        # The next trial of a count costs `probe` of its evaluations (one when it is ABORT
        # times slower), in units of the chosen count's: wait long enough for the trials to
        # stay within TRIAL_BUDGET of the time.
        trial = sum(r if r > ABORT else self.probe * r
                    for n, c in costs.items() if n != best for r in [c / costs[best]])
        self._every = max(self.explore_every, int(trial / TRIAL_BUDGET))
