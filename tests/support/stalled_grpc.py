"""A gRPC call that stalls at the HTTP/2 level: a raw socket sends the connection preface, its
SETTINGS and one stream's HEADERS (an OTLP Export call, no END_STREAM), then never a DATA frame.

No HTTP/2 library is needed: the headers are HPACK literals without indexing or Huffman coding
(RFC 7541 6.2.2), which every decoder must take. A thread answers the server's SETTINGS and PINGs
(so the connection stays up) and reads whatever else comes; ``ended`` says whether the server
ended the stream (RST_STREAM, or HEADERS with END_STREAM: a trailers-only answer) or closed.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _integer(value: int, prefix_bits: int) -> bytes:
    """HPACK's integer (RFC 7541 5.1), with the first byte's high bits zero."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out, value = bytearray([limit]), value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + bytes([value]))


def _literal(name: str, value: str) -> bytes:
    """A header field without indexing, its name a new literal, neither Huffman coded."""
    raw_name, raw_value = name.encode(), value.encode()
    return b"\x00" + _integer(len(raw_name), 7) + raw_name + _integer(len(raw_value), 7) + raw_value


class StalledCall:
    """One connection, one Export call that never sends its message."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None, path: str = EXPORT):
        self.ended = threading.Event()
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.settimeout(None)
        self._lock = threading.Lock()
        fields = {
            ":method": "POST",
            ":scheme": "http",
            ":path": path,
            ":authority": f"{host}:{port}",
            "content-type": "application/grpc",
            "te": "trailers",
            **(headers or {}),
        }
        block = b"".join(_literal(name, value) for name, value in fields.items())
        self._send(PREFACE + _frame(SETTINGS, 0, 0) + _frame(HEADERS, END_HEADERS, 1, block))
        self._reader = threading.Thread(target=self._read, name="stalled-grpc-call", daemon=True)
        self._reader.start()

    def _send(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)

    def _read(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= 9:
                    length = int.from_bytes(buffer[:3], "big")
                    if len(buffer) < 9 + length:
                        break
                    kind, flags = buffer[3], buffer[4]
                    stream = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
                    payload, buffer = buffer[9 : 9 + length], buffer[9 + length :]
                    if kind == SETTINGS and not flags & ACK:
                        self._send(_frame(SETTINGS, ACK, 0))
                    elif kind == PING and not flags & ACK:
                        self._send(_frame(PING, ACK, 0, payload))
                    elif kind == GOAWAY or (
                        stream == 1 and (kind == RST_STREAM or (kind == HEADERS and flags & END_STREAM))
                    ):
                        self.ended.set()
        except OSError:
            pass
        self.ended.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._reader.join(5)
