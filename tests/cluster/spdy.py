"""The server side of SPDY/3.1 framing, as much as a kubelet's ``exec`` needs (Kubernetes' remote command).

The API server proxies ``pods/exec`` to the kubelet as an HTTP upgrade to
``SPDY/3.1``; the client (client-go's ``remotecommand`` over moby/spdystream)
then opens one stream per channel (``streamtype``: error, stdin, stdout, stderr,
resize) with SYN_STREAM frames. This module reads frames, answers SYN_STREAM
with SYN_REPLY and PING with PING, and writes DATA frames. Header blocks are
zlib streams primed with SPDY/3's dictionary, one compressor per direction for
the whole connection (draft-mbelshe-httpbis-spdy-00, section 2.6.10.1).
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass, field
from io import BufferedIOBase

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA = 0xFFFFFF

_WORDS = (  # length-prefixed in the dictionary; "200 OK" has a space, so the list is comma-separated
    "options,head,post,put,delete,trace,accept,accept-charset,accept-encoding,accept-language,"
    "accept-ranges,age,allow,authorization,cache-control,connection,content-base,content-encoding,"
    "content-language,content-length,content-location,content-md5,content-range,content-type,date,etag,"
    "expect,expires,from,host,if-match,if-modified-since,if-none-match,if-range,if-unmodified-since,"
    "last-modified,location,max-forwards,pragma,proxy-authenticate,proxy-authorization,range,referer,"
    "retry-after,server,te,trailer,transfer-encoding,upgrade,user-agent,vary,via,warning,www-authenticate,"
    "method,get,status,200 OK,version,HTTP/1.1,url,public,set-cookie,keep-alive,origin"
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    out = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS.split(","))
    return out + _TAIL.encode()


DICTIONARY = _dictionary()


class SpdyError(Exception):
    pass


@dataclass
class Frame:
    kind: str  # "control" or "data"
    type: int = 0  # control frame type
    flags: int = 0
    stream: int = 0
    data: bytes = b""
    headers: dict[str, list[str]] = field(default_factory=dict)


class Connection:
    """One upgraded connection: ``read()`` frames from the client, ``reply``/``data``/``ping`` to it."""

    def __init__(self, rfile: BufferedIOBase, wfile: BufferedIOBase) -> None:
        self.rfile, self.wfile = rfile, wfile
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self.wlock = threading.Lock()

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.rfile.read(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    def _headers(self, block: bytes) -> dict[str, list[str]]:
        raw = self.inflate.decompress(block)
        (count,) = struct.unpack_from(">I", raw, 0)
        pos, out = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4 : pos + 4 + n].decode().lower()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", raw, pos)
            out[name] = raw[pos + 4 : pos + 4 + n].decode().split("\0")
            pos += 4 + n
        return out

    def read(self) -> Frame:
        first, second = struct.unpack(">II", self._exact(8))
        flags, length = second >> 24, second & MAX_DATA
        payload = self._exact(length)
        if not first & 0x80000000:
            return Frame("data", flags=flags, stream=first & 0x7FFFFFFF, data=payload)
        version, ftype = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"SPDY version {version}, not {VERSION}")
        frame = Frame("control", type=ftype, flags=flags, data=payload)
        if ftype in (SYN_STREAM, SYN_REPLY, HEADERS, RST_STREAM, WINDOW_UPDATE) and length >= 4:
            frame.stream = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
        if ftype == SYN_STREAM:
            frame.headers = self._headers(payload[10:])
        elif ftype in (SYN_REPLY, HEADERS):
            frame.headers = self._headers(payload[4:])
        return frame

    def _write(self, data: bytes) -> None:
        with self.wlock:
            self.wfile.write(data)
            self.wfile.flush()

    def _control(self, ftype: int, flags: int, payload: bytes) -> None:
        head = struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload))
        self._write(head + payload)

    def reply(self, stream: int, headers: dict[str, str] | None = None) -> None:
        """SYN_REPLY: the stream the client opened is accepted."""
        items = sorted((headers or {}).items())
        block = struct.pack(">I", len(items)) + b"".join(
            struct.pack(">I", len(k)) + k.lower().encode() + struct.pack(">I", len(v)) + v.encode()
            for k, v in items
        )
        with self.wlock:  # the compressor's state is shared by every header block sent
            packed = self.deflate.compress(block) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
            head = struct.pack(">HHI", 0x8000 | VERSION, SYN_REPLY, len(packed) + 4)
            self.wfile.write(head + struct.pack(">I", stream) + packed)
            self.wfile.flush()

    def ping(self, payload: bytes) -> None:
        self._control(PING, 0, payload)

    def goaway(self, last_stream: int) -> None:
        self._control(GOAWAY, 0, struct.pack(">II", last_stream, 0))

    def data(self, stream: int, data: bytes, fin: bool = False) -> None:
        for start in range(0, max(len(data), 1), MAX_DATA):
            chunk = data[start : start + MAX_DATA]
            last = start + MAX_DATA >= len(data)
            flags = FLAG_FIN if fin and last else 0
            self._write(struct.pack(">II", stream, (flags << 24) | len(chunk)) + chunk)
