"""What one jailed kernel may use, and how the pool around the kernels behaves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Every knob of the sandbox; the defaults are what the server runs with.

    Per kernel (see jail.py, boot.py, kernel.py for how):

    memory_bytes     the kernel's memory, all its processes together: the memory limit of its
                     cgroup (cgroups.py), or without one the jail's summed PSS, checked every
                     0.25 s while a cell runs (the cell's processes are killed past it). Also
                     RLIMIT_AS of every process in the jail, so one big allocation fails with
                     MemoryError rather than the OOM killer. An idle warm kernel (numpy, pandas,
                     pyplot imported) maps ~0.4 GiB and uses ~0.12 GiB; BLAS/OpenMP threads (<= 4)
                     and malloc arenas (2) are capped in the kernel's environment so that this
                     does not grow with the host's core count.
    cpu_seconds      RLIMIT_CPU of the kernel process, re-armed before each execution to "CPU used
                     so far + cpu_seconds" (exec_timeout_s bounds a cell's wall time). Past it
                     SIGXCPU kills the kernel, and the thread's next execution starts fresh.
                     Between executions the kernel is paused, so it uses no CPU at all then.
    cpus             CPU quota of the kernel's cgroup, in cores (0: none; no cgroup: none).
    file_size_bytes  RLIMIT_FSIZE: no file written in the jail grows past it (OSError EFBIG).
    disk_bytes       quota of the thread's /mnt/data (the only place on disk), in bytes of disk
    disk_files       and in files and directories; input files the engine places do not count.
                     Before an execution RLIMIT_FSIZE is lowered to the room left; a watchdog
                     stops a cell that crosses the quota; files the execution created past it
                     are deleted, newest first, and the logs say so.
    output_files     files one execution returns (Execution.files): those directly in /mnt/data
                     first, then by name; the rest are named in the logs.
    processes        tasks (processes and threads) of the kernel: RLIMIT_NPROC of the kernel's
                     user (an idle kernel uses ~12) and the pids limit of its cgroup. Contains
                     fork bombs, even when the server runs as root (jail.py says how). When a cell
                     reaches it, or ends, the processes it started are killed.
    tmp_bytes        size of the jail's /tmp and of its /dev/shm (tmpfs each: memory, counted in
                     the kernel's cgroup).

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
    cpus: float = 1.0
    file_size_bytes: int = 256 * 1024**2
    disk_bytes: int = 1024**3
    disk_files: int = 10000
    output_files: int = 20
    processes: int = 64
    exec_timeout_s: float = 60.0
    interrupt_grace_s: float = 5.0
    output_chars: int = 20000
    pool_size: int = 1
    max_kernels: int = 8
    idle_timeout_s: float = 3600.0
    tmp_bytes: int = 256 * 1024**2
    start_timeout_s: float = 60.0
