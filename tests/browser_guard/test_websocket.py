"""The test WebSocket client's frame codec: what it encodes it decodes, at every length
form (7-bit, 16-bit, 64-bit), masked or not."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.browser_guard.websocket import TEXT, decode_frame, encode_frame


def _reader(data: bytes) -> tuple[Callable[[int], bytes], list[int]]:
    pos = [0]

    def read(n: int) -> bytes:
        out = data[pos[0] : pos[0] + n]
        assert len(out) == n, "read past the frame"
        pos[0] += n
        return out

    return read, pos


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=130),
        st.integers(65530, 65540).map(lambda n: b"x" * n),
    ),
    st.binary(min_size=4, max_size=4),
)
def test_frames_round_trip(payload: bytes, mask: bytes) -> None:
    frame = encode_frame(TEXT, payload, mask)
    read, pos = _reader(frame)
    assert decode_frame(read) == (True, TEXT, payload)
    assert pos[0] == len(frame)  # nothing left over, nothing missing


def test_unmasked_server_frame() -> None:
    read, _ = _reader(b"\x81\x05hello")
    assert decode_frame(read) == (True, TEXT, b"hello")
    read, _ = _reader(b"\x01\x03hel")  # not final: a fragment
    assert decode_frame(read) == (False, TEXT, b"hel")
