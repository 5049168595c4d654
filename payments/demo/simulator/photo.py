"""A small generated photo (PNG) for proof of delivery: a door-coloured square, made per job."""

from __future__ import annotations

import struct
import zlib

SIZE = 32


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def proof_photo(label: str) -> bytes:
    """A 32 x 32 RGB PNG whose colour comes from ``label`` (so each job's photo differs)."""
    digest = zlib.crc32(label.encode())
    colour = bytes([(digest >> 16) & 0xFF, (digest >> 8) & 0xFF, digest & 0xFF])
    rows = b"".join(b"\x00" + colour * SIZE for _ in range(SIZE))
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
