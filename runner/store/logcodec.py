"""How a log chunk's bytes are kept: compressed with zlib when that saves space, else as sent.

Each chunk is compressed on its own, so the tail, line ranges and the live stream still read
only the chunks they need. zlib at its fastest level keeps a 47 MB log of numbers at 0.28 of
its size for about 0.3 s of CPU (build output, with its repeated words, compresses further);
higher levels gain a few percent for three times the CPU on the log's hottest path.
"""

from __future__ import annotations

import zlib

RAW = 0  # the bytes as the agent sent them
ZLIB = 1  # zlib (RFC 1950) of those bytes

_LEVEL = 1
# Below this a chunk is kept raw: zlib's header and a short line barely shrink.
_MIN_PACKED = 128


def pack(blob: bytes) -> tuple[bytes, int]:
    """The bytes to store for ``blob`` and their codec; raw unless compression saves space."""
    if len(blob) < _MIN_PACKED:
        return blob, RAW
    packed = zlib.compress(blob, _LEVEL)
    if len(packed) >= len(blob):
        return blob, RAW
    return packed, ZLIB


def unpack(data: bytes | memoryview, codec: int, size: int) -> bytes:
    """The chunk's bytes from what is stored: ``size`` is the length they were stored with,
    and no more than that is ever inflated."""
    if codec == RAW:
        return bytes(data)
    if codec == ZLIB:
        inflate = zlib.decompressobj()
        blob = inflate.decompress(data, size)
        if len(blob) != size or inflate.unconsumed_tail:
            raise ValueError(f"a stored log chunk inflates to other than its {size} bytes")
        return blob
    raise ValueError(f"unknown log chunk codec {codec}")
