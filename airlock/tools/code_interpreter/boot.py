"""The first code a kernel runs, inside its jail: drop to the jail's user, set limits, start ipykernel.

Not imported by airlock: kernel.py passes this file's text to `python -c` (the airlock package is
not visible in the jail), with the settings as JSON in $AIRLOCK_CI_BOOT and ipykernel's own
arguments (`-f CONNECTION_FILE`) after it. The same process then becomes the kernel.
"""

import json
import os
import resource
import sys

cfg = json.loads(os.environ.pop("AIRLOCK_CI_BOOT"))

if cfg.get("uid") is not None:
    # Started as root with only CAP_SETUID/CAP_SETGID (jail.py): become the kernel's own
    # unprivileged user. setuid() from root clears every capability; no_new_privs is already set.
    os.setgroups([])
    os.setgid(cfg["gid"])
    os.setuid(cfg["uid"])


def _limit(which, soft, hard=None):
    resource.setrlimit(which, (soft, soft if hard is None else hard))


_limit(resource.RLIMIT_AS, cfg["memory_bytes"])
_limit(resource.RLIMIT_FSIZE, cfg["file_size_bytes"])
_limit(resource.RLIMIT_NPROC, cfg["processes"])
_limit(resource.RLIMIT_CPU, cfg["cpu_seconds"], cfg["cpu_hard"])
_limit(resource.RLIMIT_CORE, 0)

for d in cfg["make_dirs"]:
    os.makedirs(d, mode=0o700, exist_ok=True)
os.chdir(cfg["cwd"])

if cfg.get("probe"):
    import ipykernel.kernelapp  # noqa: F401  (the jail sees everything a kernel needs)

    print("airlock-probe-ok", os.getuid(), flush=True)
    sys.exit(0)

from ipykernel.kernelapp import IPKernelApp  # noqa: E402
from traitlets.config import Config  # noqa: E402

config = Config()
config.HistoryManager.enabled = False  # no sqlite file per kernel
config.InteractiveShell.colors = "nocolor"
config.IPKernelApp.exec_lines = cfg["startup"]
if cfg.get("inline_plots"):
    # figures drawn in a cell (plt.show() or left open) come back as image/png display_data
    config.IPKernelApp.matplotlib = "inline"
sys.argv = ["airlock-kernel"] + sys.argv[1:]
IPKernelApp.launch_instance(config=config)
