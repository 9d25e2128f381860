"""The sandbox's parts, in process and fast: the seccomp program, host slots, cgroup detection
(v1 and v2, on fake cgroup trees: this host runs one of them at most), and the tree walker."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

import pytest

from airlock.tools.code_interpreter import cgroups, files, host, seccomp

# -- seccomp ----------------------------------------------------------------------------------

ARCH_TOKENS = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}


def test_syscall_numbers_match_libseccomp():
    name = ctypes.util.find_library("seccomp")
    if name is None:
        pytest.skip("libseccomp is not installed (only used to check the table)")
    lib = ctypes.CDLL(name)
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    for arch, (column, token) in ARCH_TOKENS.items():
        for syscall, numbers in seccomp.SYSCALLS.items():
            nr = lib.seccomp_syscall_resolve_name_arch(token, syscall.encode())
            want = numbers[column]
            if want is None:
                assert nr < 0, (arch, syscall, nr)
            else:
                assert nr == want, (arch, syscall, nr, want)


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_program_is_well_formed(machine):
    prog = seccomp.program(machine)
    assert len(prog) % 8 == 0 and len(prog) // 8 < 200
    insns = [struct.unpack("<HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    # starts by checking the architecture, ends with returns only
    assert insns[0] == (0x20, 0, 0, 4)
    assert insns[-1][0] == 0x06 and insns[-2][0] == 0x06
    for i, (code, jt, jf, _) in enumerate(insns):
        if code & 0x07 == 0x05:  # a jump stays inside the program
            assert i + 1 + max(jt, jf) < len(insns)


def test_unknown_architecture_has_no_program():
    with pytest.raises(ValueError):
        seccomp.program("riscv64")


# -- host slots -------------------------------------------------------------------------------

def test_slots_are_exclusive_and_freed(tmp_path):
    a = host.Slot("same-data-dir", base=tmp_path)
    b = host.Slot("same-data-dir", base=tmp_path)  # same hint: the next free slot
    assert a.index != b.index and a.uid_base != b.uid_base
    assert abs(a.uid_base - b.uid_base) >= host.SLOT_UIDS
    assert not a.is_free(b.index) and not b.is_free(a.index)
    (tmp_path / f"slot-{b.index}.run").mkdir()
    b.release()
    assert a.is_free(b.index)
    assert tmp_path / f"slot-{b.index}.run" in a.clean_stale()  # a dead pool's runtime dir
    c = host.Slot("same-data-dir", base=tmp_path)
    assert c.index == b.index  # given back, taken again
    a.release()
    c.release()


# -- cgroups ----------------------------------------------------------------------------------

def _fake_v2(tmp_path: Path, controllers: str, procs: str) -> tuple[str, str, Path]:
    mnt = tmp_path / "cg2"
    own = mnt / "user.slice" / "app"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text(controllers)
    (own / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text(procs)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"30 25 0:26 / {mnt} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    cgroup = tmp_path / "cgroup"
    cgroup.write_text("0::/user.slice/app\n")
    return str(mountinfo), str(cgroup), own


def test_cgroup_v2_is_used_when_delegated(tmp_path):
    mountinfo, cgroup, own = _fake_v2(tmp_path, "cpu memory pids", f"{os.getpid()}\n")
    got = cgroups.detect("airlock-s3", mountinfo=mountinfo, cgroup_file=cgroup)
    assert isinstance(got, cgroups.Cgroups) and got.name == "cgroup v2", got
    assert got.groups == [own / "airlock-s3"]
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    (own / "airlock-s3" / "k-1").mkdir()
    (own / "airlock-s3" / "k-1" / "cpu.max").write_text("max 100000")
    cg = got.create("k-1", cgroups.Budget(memory_bytes=123, tasks=66, cpus=1.5))
    d = own / "airlock-s3" / "k-1"
    assert (d / "memory.max").read_text() == "123" and (d / "pids.max").read_text() == "66"
    assert (d / "cpu.max").read_text() == "150000 100000"
    assert cg.wrap(["bwrap"])[:2] == ["/bin/sh", "-c"] and str(d / "cgroup.procs") in cg.wrap([])
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")
    assert cg.oom_kills() == 2


def test_cgroup_v2_without_memory_and_pids_says_why(tmp_path):
    mountinfo, cgroup, _ = _fake_v2(tmp_path, "cpu io", "1\n")
    got = cgroups.detect("airlock-s3", mountinfo=mountinfo, cgroup_file=cgroup)
    assert isinstance(got, str) and "not delegated" in got and "cgroup v1" in got


def test_cgroup_v1(tmp_path):
    lines, members = [], []
    for i, c in enumerate(["memory", "pids", "cpu,cpuacct"]):
        d = tmp_path / "v1" / c / "server"
        d.mkdir(parents=True)
        lines.append(f"{40 + i} 25 0:{30 + i} / {tmp_path / 'v1' / c} rw - cgroup cgroup rw,{c}")
        members.append(f"{i + 1}:{c}:/server")
    (tmp_path / "mountinfo").write_text("\n".join(lines) + "\n")
    (tmp_path / "cgroup").write_text("\n".join(members) + "\n")
    got = cgroups.detect("airlock-s7", mountinfo=str(tmp_path / "mountinfo"),
                         cgroup_file=str(tmp_path / "cgroup"))
    assert isinstance(got, cgroups.Cgroups) and got.name == "cgroup v1", got
    assert {g.parent.parent.name for g in got.groups} == {"memory", "pids", "cpu,cpuacct"}
    mem = tmp_path / "v1" / "memory" / "server" / "airlock-s7" / "k-1"
    mem.mkdir()
    (mem / "memory.limit_in_bytes").write_text("")
    got.create("k-1", cgroups.Budget(memory_bytes=999, tasks=10, cpus=0))
    assert (mem / "memory.limit_in_bytes").read_text() == "999"
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert cgroups.KernelCgroup(1, [mem]).oom_kills() == 3


def test_no_cgroups_says_why(tmp_path):
    (tmp_path / "mountinfo").write_text("22 1 0:5 / /proc rw - proc proc rw\n")
    (tmp_path / "cgroup").write_text("0::/\n")
    got = cgroups.detect("x", mountinfo=str(tmp_path / "mountinfo"),
                         cgroup_file=str(tmp_path / "cgroup"))
    assert isinstance(got, str) and "no memory hierarchy" in got


# -- the walker -------------------------------------------------------------------------------

def test_walk_deep_trees_without_recursion_or_many_fds(tmp_path):
    top = tmp_path / "top"
    d = top
    for _ in range(files.WINDOW * 3):
        d = d / "d"
        d.mkdir(parents=True)
        (d / "f.txt").write_text("x")
    (top / "link").symlink_to("/etc")
    fds = len(os.listdir("/proc/self/fd"))
    snap = files.snapshot(top)
    assert len(snap.files) == files.WINDOW * 3 and snap.entries == files.WINDOW * 6 + 1
    assert not any(n.startswith("link/") for n in snap.files)  # not followed
    # No descriptor left open by the walk (at most as many as before: in the suite's process
    # other threads' clients may close theirs meanwhile).
    assert len(os.listdir("/proc/self/fd")) <= fds
    files.remove_tree(top)
    assert not top.exists() and Path("/etc").exists()
    assert len(os.listdir("/proc/self/fd")) <= fds
