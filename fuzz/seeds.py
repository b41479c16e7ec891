#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the hand-made seeds of fuzz/corpus/ (format: fuzz_mset.c's header).

Each seed is a short scenario the fuzzer should start from: the worked
examples scaled to the window, and each failure path of the header's
"On failure" paragraphs.  Run from the repository root:
    python3 fuzz/seeds.py fuzz/corpus
"""
import os
import struct
import sys

LOW, MID, TOP = 0, 1, 2


def addr(v):
    """A window offset (< 0xff), or ('raw', value) for any address."""
    if isinstance(v, tuple):
        return bytes([0xff]) + struct.pack('<Q', v[1] % 2**64)
    assert 0 <= v < 0xff
    return bytes([v])


size = addr


def how(flags, be=0, null=False):
    return bytes([0xf0 if null else (flags & 7) | (be << 3)])


def map_(a, s, flags, be=0, overlap=False, null=False):
    return bytes([1 if overlap else 0]) + addr(a) + size(s) + how(flags, be, null)


def unmap(a, s):
    return bytes([2]) + addr(a) + size(s)


def protect(a, s, k):
    return bytes([3]) + addr(a) + size(s) + bytes([k])


def set_to(v):   # update rule 2: set flags to v
    return 2 | (v << 2)


def find(a, null_out=False):
    return bytes([4]) + addr(a) + bytes([null_out])


def find_next(a):
    return bytes([5]) + addr(a) + bytes([0])


def overlaps(a, s):
    return bytes([6]) + addr(a) + size(s)


def align(log2):
    return bytes([log2])


def ffa(hint, ls, le, a_log2, n_aligns, null_out=False):
    return bytes([7]) + addr(hint) + addr(ls) + addr(le) + align(a_log2) + bytes([n_aligns, null_out])


def anywhere(hint, ls, le, a_log2, n_aligns, flags):
    return bytes([8]) + addr(hint) + addr(ls) + addr(le) + align(a_log2) + bytes([n_aligns]) + how(flags) + bytes([0])


def clear():
    return bytes([9])


def fault(mask=0, err=0, sticky=False, alloc=None, alloc_sticky=False):
    a = 0 if alloc is None else 0x80 | alloc | (0x40 if alloc_sticky else 0)
    return bytes([10, mask, err | (0x80 if sticky else 0), a])


SEEDS = {}

# The worked examples of issue 2 at 1/0x100 scale: 8 areas of 0x10 at stride
# 0x20, the gaps too, a remap with overlap, unmaps that shrink and split.
s = bytes([LOW])
s += b''.join(map_(a, 0x10, 1) for a in range(0, 0xf0, 0x20))
s += b''.join(map_(a, 0x10, 2) for a in range(0x10, 0xf0, 0x20))
s += map_(0x40, 0x40, 3) + map_(0x40, 0x40, 3, overlap=True)
s += unmap(0x08, 0x40) + unmap(0xa8, 0x10) + unmap(0x50, 0x08) + clear()
SEEDS['worked_examples_map_unmap'] = s

s = bytes([LOW]) + b''.join(map_(a, 0x10, 7) for a in range(0, 0xf0, 0x20))
s += b''.join(protect(b + 0xc, 0x18, set_to(1)) for b in range(0, 0xe0, 0x20))
s += b''.join(protect(b + 0x8, 0x1, 3 | (7 << 2)) for b in range(0, 0xe0, 0x20))
SEEDS['worked_examples_protect'] = s

# Backend failures.
SEEDS['map_fails'] = bytes([LOW]) + map_(0x10, 0x20, 1) + fault(1, 0) + map_(0x40, 0x10, 2)
SEEDS['map_fails_after_unmapping_overlaps'] = (
    bytes([MID]) + map_(0x10, 0x40, 1) + map_(0x60, 0x10, 2, be=1)
    + fault(0b100, 1) + map_(0x20, 0x60, 3, overlap=True))
SEEDS['map_overlap_unmap_fails'] = (
    bytes([LOW]) + map_(0x10, 0x10, 1) + map_(0x30, 0x10, 2) + map_(0x50, 0x10, 3)
    + fault(0b10, 3) + map_(0x18, 0x40, 4, overlap=True))
SEEDS['unmap_fails_midway'] = (
    bytes([LOW]) + map_(0x10, 0x10, 1) + map_(0x30, 0x10, 2) + map_(0x50, 0x20, 3)
    + fault(0b10, 1) + unmap(0x10, 0x50) + fault(1, 0) + unmap(0x58, 0x08))
SEEDS['protect_fails_and_reverts'] = (
    bytes([LOW]) + map_(0x10, 0x10, 1) + map_(0x30, 0x10, 2) + map_(0x50, 0x10, 3)
    + fault(0b100, 2) + protect(0x18, 0x40, set_to(5)))
SEEDS['protect_revert_fails'] = (
    bytes([LOW]) + map_(0x10, 0x10, 1) + map_(0x30, 0x10, 2, be=1)
    + fault(0b10, 0, sticky=True) + protect(0x18, 0x20, set_to(5)))
SEEDS['clear_fails'] = (
    bytes([LOW]) + map_(0x10, 0x10, 1) + map_(0x30, 0x10, 2) + map_(0x50, 0x10, 3)
    + fault(0b100, 0) + clear() + clear())
SEEDS['map_outside_window_efault'] = (
    bytes([LOW]) + map_(0xf0, 0x20, 1) + map_(0xe0, 0x10, 1) + map_(0xd8, 0x40, 2, overlap=True))

# Out of memory at each allocation of the splitting operations.
area = list(range(0x04, 0xec, 0x12))  # 13 areas of 0x10
s = bytes([LOW]) + b''.join(map_(a, 0x10, 1) for a in area)
for k in range(4):  # 3 allocations each: the new node or middle piece, left, right
    s += fault(alloc=k) + map_(area[k] + 4, 4, 2, overlap=True)
    s += fault(alloc=k) + unmap(area[4 + k] + 4, 4)
    s += fault(alloc=k) + protect(area[8 + k] + 4, 4, set_to(3))
s += fault(alloc=0, alloc_sticky=True) + protect(0, 0xf0, set_to(6))  # > 8 areas: the plan
s += fault(alloc=1) + protect(0, 0xf0, set_to(6))
s += fault(alloc=5) + protect(0, 0xf0, set_to(5))
SEEDS['oom_each_allocation'] = s
SEEDS['oom_map_anywhere'] = (
    bytes([LOW]) + map_(0x10, 0x10, 1) + fault(alloc=0) + anywhere(0, 0, 0xfe, 2, 3, 4)
    + anywhere(0, 0, 0xfe, 2, 3, 4))

# More than a reclamation batch (64 nodes) retired at once, with the batch
# header refused: the writer falls back to waiting for a grace period.
s = bytes([LOW]) + b''.join(map_(a, 0x2, 1) for a in range(0, 0xf0, 3))
s += fault(alloc=0, alloc_sticky=True) + unmap(0, 0xf0)
SEEDS['oom_reclamation_batch'] = s

# Edges of the address space and bad input.
SEEDS['top_of_address_space'] = (
    bytes([TOP]) + map_(0xf0, 0x0f, 1) + map_(0xf0, 0x10, 1) + map_(0x00, 0, 1)
    + map_(('raw', 2**64 - 0x1000), ('raw', 0x2000), 1) + unmap(('raw', 2**64 - 0x1000), ('raw', 0x2000))
    + overlaps(('raw', 2**64 - 0x1000), ('raw', 0x1000)) + overlaps(0xfe, 1) + find(0xfe)
    + ffa(0, 0, 0xfe, 4, 1) + find_next(0xf5))
SEEDS['bad_arguments'] = (
    bytes([LOW]) + map_(0x10, 0x10, 1) + map_(0x20, 0x10, 1, null=True) + protect(0x10, 0x10, 0xff)
    + ffa(0x10, 0, 0x80, 0x80, 1) + ffa(0x10, 0, 0x80, 0x83, 1) + ffa(0x10, 0x80, 0x40, 2, 1)
    + ffa(0x90, 0x00, 0x80, 2, 1) + ffa(0x00, 0x40, 0x80, 2, 1) + ffa(0x10, 0, 0x80, 2, 0x81)
    + ffa(0x10, 0, 0x80, 2, 1, null_out=True) + protect(0x10, 0x10, 1) + protect(0x10, 0x10, 0)
    + find(0x10, null_out=True) + unmap(0x10, 0))
SEEDS['free_area_and_map_anywhere'] = (
    bytes([MID]) + map_(0x10, 0x18, 1) + map_(0x30, 0x10, 1) + map_(0x80, 0x10, 1)
    + ffa(0x10, 0, 0xfe, 0, 0x10) + ffa(0x10, 0, 0xfe, 4, 2) + ffa(0x31, 0x20, 0x90, 3, 1)
    + anywhere(0x10, 0, 0xfe, 3, 2, 2) + anywhere(0x0, 0x40, 0xfe, 5, 1, 3)
    + fault(1, 0) + anywhere(0x0, 0, 0xfe, 0, 4, 4))

if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else 'fuzz/corpus'
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, 'seed-' + name), 'wb') as f:
            f.write(data)
    print(f'{len(SEEDS)} seeds written to {out}')
