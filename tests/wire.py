"""Hand-built protobuf wire bytes, for requests the generated classes cannot produce."""

from __future__ import annotations


def varint(number: int) -> bytes:
    """A base-128 varint."""
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """Field field_number with wire type 2 (bytes, string or message) holding payload."""
    return varint(field_number << 3 | 2) + varint(len(payload)) + payload
