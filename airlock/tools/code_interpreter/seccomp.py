"""The jail's seccomp filter: a classic BPF program that bwrap installs (`--seccomp FD`) right
before it runs the kernel, so every process of the jail runs under it.

Written by hand with `struct` rather than generated with libseccomp: no library to install, and
the program is short enough to read. Syscall numbers are listed for x86_64 and aarch64 (checked
against libseccomp's tables by tests/test_sandbox_seccomp.py); on other architectures there is
no filter and the pool logs that.

What it denies, with EPERM unless noted:
  * new namespaces: clone() and unshare() with any CLONE_NEW* flag, setns(). Creating a user
    namespace is the way back to a full set of capabilities (and to mounting, and to the kernel
    code that only root reaches); without one the other namespace flags fail anyway.
  * clone3(): ENOSYS. Its flags sit in a struct BPF cannot read; glibc then falls back to
    clone(), which the filter can check (threads and subprocesses keep working).
  * mounting and changing roots (mount, umount2, pivot_root, chroot and the new mount API),
    kernel keyrings (keyctl, add_key, request_key: not namespaced), bpf, perf_event_open,
    userfaultfd, io_uring, ptrace and process_vm_*, fanotify, file handles (open_by_handle_at),
    and what needs privileges the jail never has (modules, kexec, reboot, swap, clocks, quotas,
    acct, syslog, ioperm/iopl): attack surface of the host kernel that code_interpreter does
    not need.
  * ioctl TIOCSTI and TIOCLINUX (pushing input into a terminal).
  * any syscall of another ABI (x32, or i386 through int 0x80 on x86_64): ENOSYS.
"""

from __future__ import annotations

import errno
import os
import struct

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

# offsets in struct seccomp_data (little-endian: an argument's low 32 bits come first)
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24

_CLONE_NS = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
             | 0x40000000)  # NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET
_UNSHARE_NS = _CLONE_NS | 0x00000080  # and NEWTIME (in clone() that bit is the exit signal's)
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C

# name: (x86_64, aarch64); None where the architecture has no such syscall
SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    "clone": (56, 220), "clone3": (435, 435), "unshare": (272, 97), "ioctl": (16, 29),
    "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "chroot": (161, 51), "open_tree": (428, 428), "move_mount": (429, 429),
    "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442), "keyctl": (250, 219), "add_key": (248, 217),
    "request_key": (249, 218), "bpf": (321, 280), "perf_event_open": (298, 241),
    "userfaultfd": (323, 282), "ptrace": (101, 117), "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271), "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "acct": (163, 89), "swapon": (167, 224), "swapoff": (168, 225), "reboot": (169, 142),
    "syslog": (103, 116), "quotactl": (179, 60), "quotactl_fd": (443, 443),
    "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171),
    "clock_adjtime": (305, 266), "pidfd_getfd": (438, 438), "lookup_dcookie": (212, 18),
    "fanotify_init": (300, 262), "vhangup": (153, 58), "uselib": (134, None),
    "ioperm": (173, None), "iopl": (172, None),
}
DENIED = [n for n in SYSCALLS if n not in ("clone", "clone3", "unshare", "ioctl")]

_ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}


def supported() -> str | None:
    """None when this machine's architecture has a filter, else why not."""
    machine = os.uname().machine
    return None if machine in _ARCHES else f"no seccomp filter is written for {machine}"


def _nr(name: str, column: int) -> int | None:
    return SYSCALLS[name][column]


def program(machine: str | None = None) -> bytes:
    """The filter as bwrap reads it: an array of struct sock_filter."""
    machine = machine or os.uname().machine
    if machine not in _ARCHES:
        raise ValueError(f"no seccomp filter is written for {machine}")
    column, audit_arch = _ARCHES[machine]
    # (code, jt label, jf label, k); a label is a name, or None for "the next instruction"
    insns: list[tuple[int, str | None, str | None, int]] = [
        (_LD_W_ABS, None, None, _ARCH),
        (_JEQ_K, None, "enosys", audit_arch),
        (_LD_W_ABS, None, None, _NR),
    ]
    if machine == "x86_64":
        insns.append((_JGE_K, "enosys", None, 0x40000000))  # the x32 ABI
    for name in DENIED:
        nr = _nr(name, column)
        if nr is not None:
            insns.append((_JEQ_K, "eperm", None, nr))
    for name, target in (("clone3", "enosys"), ("clone", "clone"), ("unshare", "unshare"),
                         ("ioctl", "ioctl")):
        insns.append((_JEQ_K, target, None, _nr(name, column) or 0))
    insns.append((_RET_K, None, None, _RET_ALLOW))
    labels: dict[str, int] = {}

    def here(label: str) -> None:
        labels[label] = len(insns)

    here("clone")
    insns += [(_LD_W_ABS, None, None, _ARG0), (_JSET_K, "eperm", None, _CLONE_NS),
              (_RET_K, None, None, _RET_ALLOW)]
    here("unshare")
    insns += [(_LD_W_ABS, None, None, _ARG0), (_JSET_K, "eperm", None, _UNSHARE_NS),
              (_RET_K, None, None, _RET_ALLOW)]
    here("ioctl")
    insns += [(_LD_W_ABS, None, None, _ARG1), (_JEQ_K, "eperm", None, _TIOCSTI),
              (_JEQ_K, "eperm", None, _TIOCLINUX), (_RET_K, None, None, _RET_ALLOW)]
    here("eperm")
    insns.append((_RET_K, None, None, _RET_ERRNO | errno.EPERM))
    here("enosys")
    insns.append((_RET_K, None, None, _RET_ERRNO | errno.ENOSYS))

    out = bytearray()
    for i, (code, jt, jf, k) in enumerate(insns):
        offsets = []
        for label in (jt, jf):
            off = 0 if label is None else labels[label] - (i + 1)
            if not 0 <= off <= 255:
                raise ValueError(f"seccomp jump out of range at {i}")
            offsets.append(off)
        out += struct.pack("<HBBI", code, offsets[0], offsets[1], k & 0xFFFFFFFF)
    return bytes(out)
