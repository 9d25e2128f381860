"""What one jailed kernel may use, and how the pool around the kernels behaves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Every knob of the sandbox; the defaults are what the server runs with.

    Per kernel (see jail.py, boot.py, kernel.py for how):

    memory_bytes     RLIMIT_AS of every process in the jail: address space, not RSS (rlimits
                     cannot bound RSS, and a memory cgroup is not available everywhere). An idle
                     warm kernel (numpy, pandas, pyplot imported) maps ~0.4 GiB, so the 2 GiB
                     default leaves ~1.6 GiB to the code; BLAS/OpenMP threads (<= 4) and malloc
                     arenas (2) are capped in the kernel's environment so that this does not grow
                     with the host's core count. Past it allocations fail: MemoryError.
    cpu_seconds      RLIMIT_CPU of the kernel process, re-armed before each execution to "CPU used
                     so far + cpu_seconds": a per-execution budget that mostly stops threads left
                     spinning in the background (exec_timeout_s bounds a cell's wall time). Past
                     it SIGXCPU kills the kernel, and the thread's next execution starts fresh.
    file_size_bytes  RLIMIT_FSIZE: no file written in the jail grows past it (OSError EFBIG).
                     Only /mnt/data is on disk; its total size is not limited here.
    processes        RLIMIT_NPROC: tasks (processes and threads) the kernel's user may have; an
                     idle kernel uses ~12. Contains fork bombs, even when the server runs as root
                     (jail.py says how). When a cell reaches it, or ends, the processes it started
                     are killed.
    tmp_bytes        size of the jail's /tmp and of its /dev/shm (tmpfs each: memory).

    Per execution and pool:

    exec_timeout_s     wall-clock limit of one execution (execute(timeout_s=...) overrides).
    interrupt_grace_s  after the timeout's interrupt, how long the cell may take to stop before
                       the kernel is killed (its state is lost; the next execution says so).
    output_chars       cap on Execution.logs; the middle is cut, with a note.
    pool_size          kernels kept started and warm for threads that have none.
    max_kernels        kernels bound to threads at once (warm ones come on top); one more evicts
                       the least recently used idle thread's kernel.
    idle_timeout_s     a thread's kernel is stopped after this long unused.
    start_timeout_s    how long a kernel may take to start.
    """

    memory_bytes: int = 2 * 1024**3
    cpu_seconds: int = 300
    file_size_bytes: int = 256 * 1024**2
    processes: int = 64
    exec_timeout_s: float = 60.0
    interrupt_grace_s: float = 5.0
    output_chars: int = 20000
    pool_size: int = 1
    max_kernels: int = 8
    idle_timeout_s: float = 3600.0
    tmp_bytes: int = 256 * 1024**2
    start_timeout_s: float = 60.0
