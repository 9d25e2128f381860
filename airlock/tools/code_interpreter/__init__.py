"""code_interpreter's sandbox: one ipykernel per conversation thread, each inside bubblewrap.

    pool = KernelPool(data_dir / "code_interpreter", hide=[data_dir])
    if (why := pool.available()) is not None: ...   # no sandbox here: why, and how to fix it
    pool.start()                                    # pre-warm in the background
    pool.workdir(thread_id)                         # host dir that is the thread's /mnt/data
    result = pool.execute(thread_id, "print(1 + 1)")
    pool.shutdown()

Modules: limits (Limits), jail (bwrap command line, environment, uids), seccomp (the jail's
syscall filter), cgroups (one memory, process and CPU budget per kernel), host (the slot a pool
holds on the host: its uid range, cgroup and runtime dir names), boot (the kernel's first code,
inside the jail), kernel (one jailed kernel), files (/mnt/data on the host: snapshots, quota,
removal), output (Execution, capped logs), procs (/proc views), pool (KernelPool).
"""

from .errors import SandboxUnavailable
from .limits import Limits
from .output import Execution
from .pool import KernelPool

__all__ = ["Execution", "KernelPool", "Limits", "SandboxUnavailable"]
