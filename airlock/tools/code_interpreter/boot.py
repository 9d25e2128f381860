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
if cfg.get("connection"):
    # the jail's runtime dir is a tmpfs of its own: the host never reads or writes it
    fd = os.open(cfg["connection_file"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg["connection"], f)
os.chdir(cfg["cwd"])

if cfg.get("probe"):
    import ipykernel.kernelapp  # noqa: F401  (the jail sees everything a kernel needs)

    print("airlock-probe-ok", os.getuid(), flush=True)
    sys.exit(0)

from ipykernel.kernelapp import IPKernelApp  # noqa: E402
from traitlets.config import Config  # noqa: E402

# Figures left open when a cell ends are shown even when the cell switched matplotlib away from
# the inline backend (`matplotlib.use('Agg')`: plt.show() then does nothing, and inline's own
# flush no longer runs).
FLUSH_FIGURES = """
def _airlock_flush_figures(result=None):
    import sys
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None or 'inline' in plt.get_backend():
        return
    from IPython.display import display
    for num in plt.get_fignums():
        display(plt.figure(num))
    plt.close('all')
get_ipython().events.register('post_run_cell', _airlock_flush_figures)
del _airlock_flush_figures
"""

config = Config()
config.HistoryManager.enabled = False  # no sqlite file per kernel
config.InteractiveShell.colors = "nocolor"
config.IPKernelApp.exec_lines = cfg["startup"] + ([FLUSH_FIGURES] if cfg.get("inline_plots") else [])
if cfg.get("inline_plots"):
    # figures drawn in a cell (plt.show() or left open) come back as image/png display_data
    config.IPKernelApp.matplotlib = "inline"
sys.argv = ["airlock-kernel"] + sys.argv[1:]
IPKernelApp.launch_instance(config=config)
