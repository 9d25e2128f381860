"""code_interpreter's kernels as the engine uses them: built from settings, checked at start-up.

Running model-written code is the most dangerous thing airlock does, so without a working
bubblewrap jail the tool refuses (each call fails with the reason) unless the operator started
the server with --allow-unsandboxed-code.
"""

from __future__ import annotations

import logging
from pathlib import Path

from airlock.settings import Settings
from airlock.tools.code_interpreter import Execution, KernelPool, Limits, SandboxUnavailable

__all__ = ["Execution", "Sandbox", "SandboxUnavailable"]

log = logging.getLogger("airlock.code_interpreter")
MB = 1024 * 1024


class Sandbox:
    def __init__(self, cfg: Settings):
        limits = Limits(
            memory_bytes=cfg.code_memory_mb * MB, cpu_seconds=cfg.code_cpu_s, cpus=cfg.code_cpus,
            file_size_bytes=cfg.code_file_size_mb * MB, processes=cfg.code_processes,
            disk_bytes=cfg.code_disk_mb * MB, disk_files=cfg.code_disk_files,
            output_files=cfg.code_output_files,
            exec_timeout_s=cfg.code_timeout_s, output_chars=cfg.code_output_chars,
            pool_size=cfg.code_pool_size, max_kernels=cfg.code_max_kernels,
            idle_timeout_s=cfg.code_idle_timeout_s)
        # The jail must not see the database, uploads (a shared files dir may lie outside the
        # data dir), indexes or other threads' dirs.
        hide = [cfg.data_dir] + ([cfg.files_dir] if cfg.files_root else [])
        self.pool = KernelPool(cfg.sandbox_dir, limits, hide=hide,
                               allow_unsandboxed=cfg.allow_unsandboxed_code, bwrap=cfg.bwrap)
        self.allow_unsandboxed = cfg.allow_unsandboxed_code
        self.refusal: str | None = None
        # thread id -> {name in /mnt/data: file id} of input files already placed there.
        self.placed: dict[str, dict[str, str]] = {}

    def prepare(self) -> None:
        """Probes the jail and pre-warms kernels, or records why code cannot run. The probe
        starts an interpreter (~0.5 s), so `engine.background` runs this on its own thread."""
        why = self.pool.available()
        if why is None:
            self.pool.start()
        elif self.allow_unsandboxed:
            log.warning("code_interpreter runs WITHOUT a sandbox (--allow-unsandboxed-code): "
                        "model-written code has this server's permissions. Reason: %s", why)
            self.pool.start()
        else:
            self.refusal = (f"code_interpreter is unavailable on this server: {why} "
                            f"(an operator may start airlock with --allow-unsandboxed-code)")
            log.error("code_interpreter disabled: %s. Install bubblewrap (Debian/Ubuntu: "
                      "apt-get install bubblewrap) and allow unprivileged user namespaces, or "
                      "start with --allow-unsandboxed-code to run code without isolation.", why)

    def workdir(self, thread_id: str) -> Path:
        return self.pool.workdir(thread_id)

    def drop(self, thread_id: str) -> None:
        """A deleted thread's kernel stops and its /mnt/data goes."""
        self.placed.pop(thread_id, None)
        self.pool.drop(thread_id)

    def shutdown(self) -> None:
        self.pool.shutdown()
