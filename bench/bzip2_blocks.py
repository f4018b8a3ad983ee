"""A bzip2 stream with block boundaries chosen to make it smaller, from the standard library's bzip2.

libbz2 fills each block to its 900 kB limit; a block's Huffman tables then serve very different
stretches of data (in a bsdiff patch's diff stream: long runs of zeros next to dense operand
changes). This cuts the data as libbz2 would, then tries each piece whole and as two halves,
recursively, keeping whichever encodes smaller (7-Zip's bzip2 encoder does the same with
`-mpass`), and joins the blocks bit by bit into one stream. The result is an ordinary single
bzip2 stream (any bunzip2, and the bspatch expo-updates embeds, reads it); the gain is what
bench/patches.py measures."""
from __future__ import annotations

import bz2
import re

BLOCK_MAGIC = 0x314159265359
END_MAGIC = 0x177245385090
BLOCK_LIMIT = 900_000 - 19 - 64
"""libbz2's level-9 block holds 900 000 - 19 bytes after its first run-length pass (a margin kept)."""
RUNS = re.compile(rb"(.)\1{3,}", re.S)


def _block_cuts(data: bytes) -> list[int]:
    """Offsets cutting `data` where libbz2 would end its blocks: each piece's first-pass size (a run
    of 4 to 255 equal bytes takes 5 bytes) fits one block."""
    cuts, size, position = [0], 0, 0

    def literal(upto: int) -> None:
        nonlocal size, position
        while position < upto:
            take = min(BLOCK_LIMIT - size, upto - position)
            position, size = position + take, size + take
            if size >= BLOCK_LIMIT:
                cuts.append(position)
                size = 0

    for run in RUNS.finditer(data):
        literal(run.start())
        length = run.end() - run.start()
        cost = length // 255 * 5 + (length % 255 if length % 255 < 4 else 5)
        if size + cost > BLOCK_LIMIT:
            cuts.append(position)
            size = 0
        size, position = size + cost, run.end()
    literal(len(data))
    if cuts[-1] != len(data):
        cuts.append(len(data))
    return cuts


def _block(piece: bytes) -> tuple[int, int, int]:
    """(bits, bit count, CRC) of the one block libbz2 makes of `piece`."""
    stream = bz2.compress(piece, 9)
    total, value = len(stream) * 8, int.from_bytes(stream, "big")
    for padding in range(8):
        if (value >> padding >> 32) & ((1 << 48) - 1) == END_MAGIC:
            end = total - padding - 80
            break
    else:
        raise ValueError("no end-of-stream marker")
    count = end - 32
    bits = (value >> (total - end)) & ((1 << count) - 1)
    crc = (bits >> (count - 80)) & 0xFFFFFFFF
    if bits >> (count - 48) != BLOCK_MAGIC or (value >> padding) & 0xFFFFFFFF != crc:
        raise ValueError("libbz2 made more than one block")
    return bits, count, crc


def _best(piece: bytes, depth: int, smallest: int) -> list[tuple[int, int, int]]:
    whole = [_block(piece)]
    if depth == 0 or len(piece) < 2 * smallest:
        return whole
    half = len(piece) // 2
    split = _best(piece[:half], depth - 1, smallest) + _best(piece[half:], depth - 1, smallest)
    return split if sum(count for _, count, _ in split) < whole[0][1] else whole


def compress(data: bytes, depth: int = 5, smallest: int = 8192) -> bytes:
    """`data` as one bzip2 stream (level 9) of blocks cut where they encode smallest."""
    if not data:
        return bz2.compress(data, 9)
    cuts = _block_cuts(data)
    blocks = [block for start, end in zip(cuts, cuts[1:]) for block in _best(data[start:end], depth, smallest)]
    joined, length, combined = 0, 0, 0
    for bits, count, crc in blocks:
        joined, length = (joined << count) | bits, length + count
        combined = (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ crc
    joined, length = (joined << 80) | (END_MAGIC << 32) | combined, length + 80
    padding = -length % 8
    return b"BZh9" + (joined << padding).to_bytes((length + padding) // 8, "big")
