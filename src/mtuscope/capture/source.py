"""Where capture bytes come from: a memory-mapped file, or a stream read in chunks.

Layer: capture/ (file-reading edge). This module opens files and standard
input and nothing else; it knows no pcap structure. Memory stays bounded: a
regular uncompressed file is memory-mapped (zero copy), anything else (gzip,
pipes, standard input) is read into one reusable buffer that keeps the partial
record at its end when it is refilled.
"""

from __future__ import annotations

import gzip
import io
import mmap
import os
import stat
import sys
import zlib
from typing import BinaryIO

from mtuscope.errors import CaptureError

__all__ = ["Source", "open_source"]

_GZIP_MAGIC = b"\x1f\x8b"


class _Prefixed(io.RawIOBase):
    """A stream that first returns bytes already read from it (for sniffing stdin)."""

    def __init__(self, prefix: bytes, raw: BinaryIO) -> None:
        self._prefix = prefix
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        # RawIOBase.readinto is typed with the Buffer protocol; we write into memoryviews only.
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        # Bytes already buffered, else one read of the pipe (read1; a buffered readinto
        # would wait to fill all of `b`): what arrived is returned at once, so an
        # interrupt while waiting for more loses none of it.
        data: bytes = self._raw.read1(len(b))  # type: ignore[attr-defined]
        b[: len(data)] = data
        return len(data)


class Source:
    """A window of capture bytes: ``buf[0:end]`` holds file bytes ``[base, base + end)``.

    A memory-mapped source holds the whole file (`eof` is true from the start);
    a stream source slides its window with `refill`.
    """

    def __init__(
        self,
        path: str,
        *,
        mapped: mmap.mmap | None = None,
        stream: io.BufferedIOBase | None = None,
        chunk_bytes: int = 64 << 20,
        compressed: bool = False,
    ) -> None:
        self.path = path
        """The path given ('-' for standard input)."""
        self.compressed = compressed
        """The bytes are gunzipped on the fly."""
        self.error: str | None = None
        """Why the stream ended early (a damaged gzip member), if it did."""
        self.interrupted = False
        """SIGINT/SIGTERM (`KeyboardInterrupt`) came while reading a stream: it was taken
        as the end of the stream, so the bytes already read are still walked; the reader
        raises the interrupt again once they are."""
        self._map = mapped
        self._released = 0
        self._stream = stream
        self._file: io.BufferedIOBase | None = None
        self.base = 0
        if mapped is not None:
            self.buf: mmap.mmap | bytearray = mapped
            self.end = len(mapped)
            self.eof = True
        else:
            self.buf = bytearray(max(chunk_bytes, 1 << 16))
            self.end = 0
            self.eof = False
            self._fill()

    def _fill(self) -> None:
        """Read until the buffer is full or the stream ends."""
        assert isinstance(self.buf, bytearray) and self._stream is not None
        view = memoryview(self.buf)
        # readinto1: one underlying read per call, so what has arrived is counted in
        # `end` before the next wait (a buffered readinto would wait to fill the view).
        read = getattr(self._stream, "readinto1", self._stream.readinto)
        try:
            while self.end < len(self.buf):
                got = read(view[self.end :])
                if not got:
                    self.eof = True
                    break
                self.end += got
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            if self.base == 0 and self.end == 0:
                raise CaptureError(f"not a readable gzip stream: {exc}", path=self.path) from exc
            self.error = f"compressed stream damaged: {exc}"
            self.eof = True
        except OSError as exc:
            raise CaptureError(f"read error: {exc}", path=self.path) from exc
        except KeyboardInterrupt:
            # Ctrl-C on a pipe (tcpdump -w - | mtuscope analyze -): keep what arrived.
            self.interrupted = True
            self.eof = True
        finally:
            view.release()

    def release(self, pos: int) -> None:
        """Say that the bytes before `pos` will not be read again.

        For a mapped file the kernel then drops those pages from this process
        (they stay in the page cache), so resident memory stays bounded by the
        chunk size instead of growing to the file size. Streams need nothing:
        `refill` already reuses their buffer.

        Args:
            pos: offset in `buf` of the first byte still needed.
        """
        if self._map is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        end = pos - pos % mmap.PAGESIZE
        if end > self._released:
            self._map.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def refill(self, pos: int) -> int | None:
        """Drop the bytes before `pos`, read more after the kept ones.

        When ``buf[pos:end]`` already fills the whole buffer (one record larger
        than the buffer), the buffer is doubled.

        Args:
            pos: offset in `buf` of the first byte still needed.

        Returns:
            The new offset of that byte (0), or None when no more bytes can come.
        """
        if self.eof:
            return None
        assert isinstance(self.buf, bytearray)
        keep = self.end - pos
        if pos == 0 and keep == len(self.buf):
            self.buf.extend(bytes(len(self.buf)))
        elif pos:
            self.buf[0:keep] = self.buf[pos : self.end]
            self.base += pos
            self.end = keep
        self._fill()
        return 0

    def ensure(self, pos: int, need: int) -> tuple[int, bool]:
        """Make ``buf[pos:pos + need]`` available if the file holds it.

        Args:
            pos: offset in `buf`.
            need: bytes wanted from `pos`.

        Returns:
            (new offset of the byte at `pos`, whether `need` bytes are there).
        """
        while self.end - pos < need:
            moved = self.refill(pos)
            if moved is None:
                return pos, False
            pos = moved
        return pos, True

    def close(self) -> None:
        """Release the map / stream (standard input itself stays open)."""
        if self._map is not None:
            self._map.close()
        if self._stream is not None:
            self._stream.close()  # stdin is wrapped: closing the wrapper leaves it open
        if self._file is not None:
            self._file.close()


def open_source(path: str, *, chunk_bytes: int = 64 << 20) -> Source:
    """Open a capture: a path, '-' for standard input, either gzip-compressed or not.

    Args:
        path: file path or '-'.
        chunk_bytes: buffer size for streamed input (gzip, pipes).

    Returns:
        A `Source`; call `close()` when done.

    Raises:
        CaptureError: the file cannot be opened or read.
    """
    if path == "-":
        raw = sys.stdin.buffer
        head = raw.read(2)
        stream: io.BufferedIOBase = io.BufferedReader(_Prefixed(head, raw))
        if head == _GZIP_MAGIC:
            gz = gzip.GzipFile(fileobj=stream, mode="rb")
            return Source(path, stream=gz, chunk_bytes=chunk_bytes, compressed=True)
        return Source(path, stream=stream, chunk_bytes=chunk_bytes)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by Source.close
    except OSError as exc:
        raise CaptureError(f"cannot open: {exc.strerror or exc}", path=path) from exc
    try:
        head = f.read(2)
        st = os.fstat(f.fileno())
        regular = stat.S_ISREG(st.st_mode)
        if regular:
            f.seek(0)
            stream = f
        else:  # a pipe or device: put the sniffed bytes back in front
            stream = io.BufferedReader(_Prefixed(head, f))
        if head == _GZIP_MAGIC:
            src = Source(path, stream=gzip.GzipFile(fileobj=stream, mode="rb"),
                         chunk_bytes=chunk_bytes, compressed=True)  # fmt: skip
            src._file = f
            return src
        if regular and st.st_size > 0:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            if hasattr(mmap, "MADV_SEQUENTIAL"):  # one pass, front to back: read ahead
                mapped.madvise(mmap.MADV_SEQUENTIAL)
            f.close()
            return Source(path, mapped=mapped)
        src = Source(path, stream=stream, chunk_bytes=chunk_bytes)
        src._file = f
        return src
    except OSError as exc:
        f.close()
        raise CaptureError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    except BaseException:
        f.close()
        raise
