"""The seccomp program: well-formed classic BPF that checks the ABI first and names every
denied call (how it behaves in a real session: tests/isolation)."""

from __future__ import annotations

import struct

from computerouter.providers.local.seccomp import DENIED, build_program


def test_the_program_is_classic_bpf_checking_the_abi_then_each_denied_call() -> None:
    program = build_program()
    assert len(program) % 8 == 0
    ops = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    assert len(ops) <= 4096
    assert ops[0] == (0x20, 0, 0, 4)  # load the ABI first
    assert ops[1][3] == 0xC000003E  # x86_64, else kill
    compared = {k for code, _, _, k in ops if code == 0x15}
    assert set(DENIED.values()) <= compared
    assert ops[-1] == (0x06, 0, 0, 0x7FFF0000)  # the default: allow
    for code, jt, jf, _ in ops:
        assert code in (0x20, 0x15, 0x35, 0x54, 0x06)
        assert jt + jf < len(ops)
