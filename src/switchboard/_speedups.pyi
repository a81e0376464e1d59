from array import array
from collections.abc import Sequence

def apply_mask(
    data: bytes | bytearray | memoryview, mask: bytes | bytearray | memoryview
) -> bytes: ...
def unmask_join(
    chunks: Sequence[bytes | bytearray | memoryview], mask: bytes | bytearray | memoryview
) -> bytes: ...
def send_nowait(fd: int, data: bytes | bytearray | memoryview) -> int: ...
def send_to_ready(
    fds: array[int],
    ready: bytearray,
    frame: bytes,
    message_counts: array[int],
    byte_counts: array[int],
) -> list[tuple[int, int]]: ...
