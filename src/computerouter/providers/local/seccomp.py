"""The seccomp filter every local session runs under, as a classic BPF program.

Anchored on Docker's default profile: the system calls a container never needs, and that let a
process reach past its sandbox (kernel keyrings, tracing other processes, new namespaces,
mounts, BPF, kernel modules, the clock, swap, reboot), fail with ``EPERM``; ``clone`` that asks
for a new namespace fails too, and ``clone3`` (whose flags a classic filter cannot read) says
``ENOSYS`` so the C library falls back to ``clone``. A call from another ABI (x32, i386) kills
the process. Everything else is allowed.

The program is built here (pure), written beside the session's runtime files, and installed by
:data:`APPLIER` (a few lines of standard-library Python run inside the session, as its uid,
just before the runtime or an operator's command): ``no_new_privs``, then the filter, then
``exec``. Children inherit it and cannot remove it.
"""

from __future__ import annotations

import functools
import platform
import struct

__all__ = ["APPLIER", "APPLIER_NAME", "DENIED", "PROGRAM_NAME", "build_program", "supported"]

APPLIER_NAME = ".computerouter-seccomp.py"
PROGRAM_NAME = ".computerouter-seccomp.bpf"

# x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
DENIED: dict[str, int] = {
    "uselib": 134, "syslog": 103, "ptrace": 101, "vhangup": 153, "pivot_root": 155,
    "adjtimex": 159, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
    "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
    "create_module": 174, "init_module": 175, "delete_module": 176, "get_kernel_syms": 177,
    "query_module": 178, "quotactl": 179, "nfsservctl": 180, "lookup_dcookie": 212,
    "clock_settime": 227, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "unshare": 272, "perf_event_open": 298, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "kexec_file_load": 320,
    "bpf": 321, "userfaultfd": 323, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}  # fmt: skip
_CLONE = 56
_CLONE3 = 435
_NEW_NAMESPACES = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_AND = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_EPERM, _ENOSYS = 1, 38


def supported() -> str:
    """``""`` when this machine can run the filter, else why not."""
    if platform.machine() != "x86_64":
        return f"the seccomp filter is built for x86_64, not {platform.machine()}"
    try:
        with open("/proc/self/status") as fh:
            if not any(line.startswith("Seccomp:") for line in fh):
                return "this kernel has no seccomp"
    except OSError as exc:
        return f"cannot read /proc/self/status: {exc}"
    return ""


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


@functools.cache
def build_program() -> bytes:
    """The filter as ``struct sock_filter`` records, ready for ``PR_SET_SECCOMP``. The calls a
    process makes most (read, write, mmap, ...) number below every denied one, so they are
    allowed after a handful of instructions."""
    deny = _op(_RET, _ERRNO | _EPERM)
    allow = _op(_RET, _ALLOW)
    ops = [
        _op(_LD_ABS, _ARCH),
        _op(_JEQ, _AUDIT_ARCH_X86_64, jt=1),
        _op(_RET, _KILL_PROCESS),
        _op(_LD_ABS, _NR),
        _op(_JGE, _X32_BIT, jf=1),
        _op(_RET, _KILL_PROCESS),
        _op(_JEQ, _CLONE, jf=4),  # not clone: on to the table
        _op(_LD_ABS, _ARG0_LOW),  # clone's flags
        _op(_AND, _NEW_NAMESPACES),
        _op(_JEQ, 0, jt=1),  # no new namespace: on to the table (it allows clone)
        deny,
        _op(_LD_ABS, _NR),
        _op(_JGE, min(DENIED.values()), jt=1),
        allow,
    ]
    for number in sorted(DENIED.values()):
        ops += [_op(_JEQ, number, jf=1), deny]
    ops += [_op(_JEQ, _CLONE3, jf=1), _op(_RET, _ERRNO | _ENOSYS), allow]
    return b"".join(ops)


APPLIER = b'''"""Install the session's seccomp filter, then exec the command after "--"."""
import ctypes, os, sys

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, ".computerouter-seccomp.bpf"), "rb") as fh:
        program = fh.read()
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    buf = ctypes.create_string_buffer(program, len(program))
    prog = Prog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        sys.exit("seccomp: no_new_privs failed: " + os.strerror(ctypes.get_errno()))
    if libc.prctl(22, 2, ctypes.addressof(prog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        sys.exit("seccomp: the filter was refused: " + os.strerror(ctypes.get_errno()))
    argv = sys.argv[2:] if sys.argv[1:2] == ["--"] else sys.argv[1:]
    os.execvp(argv[0], argv)

main()
'''
