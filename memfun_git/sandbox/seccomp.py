"""The seccomp filter bwrap loads before the command: no kernel keyrings.

A sandboxed command inherits memfun's session keyring, and possessing a keyring is enough to
read the keys in it (Kerberos tickets, keys that `keyctl` or a credential helper put there).
So `add_key`, `request_key` and `keyctl` fail with ENOSYS (as in Flatpak and Docker's default
profile); every other call is allowed. The program is classic BPF, one block per
architecture; on an architecture not listed here the filter allows everything.
"""

from __future__ import annotations

import struct

__all__ = ["keyring_filter"]

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000  # SECCOMP_RET_ERRNO
_ENOSYS = 38
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data
_X32 = 0x40000000

# AUDIT_ARCH_* -> (add_key, request_key, keyctl)
_KEYRING_CALLS: dict[int, tuple[int, ...]] = {
    0xC000003E: (248, 249, 250, _X32 | 248, _X32 | 249, _X32 | 250),  # x86_64 (and x32)
    0x40000003: (286, 287, 288),  # i386
    0xC00000B7: (217, 218, 219),  # aarch64
    0x40000028: (309, 310, 311),  # arm
    0xC00000F3: (217, 218, 219),  # riscv64
}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def keyring_filter() -> bytes:
    """The compiled filter (an array of `struct sock_filter`), as bwrap's --seccomp reads it."""
    blocks = list(_KEYRING_CALLS.items())
    size = 1 + sum(3 + len(calls) for _, calls in blocks) + 2
    deny = size - 1
    program = [_op(_LD_W_ABS, _ARCH)]
    for arch, calls in blocks:
        program.append(_op(_JEQ_K, arch, 0, 2 + len(calls)))  # not this arch: next block
        program.append(_op(_LD_W_ABS, _NR))
        for nr in calls:
            here = len(program)
            program.append(_op(_JEQ_K, nr, deny - here - 1, 0))
        program.append(_op(_RET_K, _ALLOW))
    program.append(_op(_RET_K, _ALLOW))
    program.append(_op(_RET_K, _ERRNO | _ENOSYS))
    assert len(program) == size
    return b"".join(program)
