"""A faster NATS protocol parser for nats-py: offsets instead of per-message buffer copies.

nats-py's parser runs a regular expression and deletes the front of its buffer for every
message, then awaits a coroutine per message. Ingest receives hundreds of thousands of
small messages a second, so this parser walks the buffer by offset, splits control lines
with `bytes.split`, and calls the client's direct (synchronous) callbacks without a
coroutine. Everything that is not MSG/HMSG is handed to nats-py's own parser unchanged.
"""

from __future__ import annotations

from typing import Any

from nats.errors import ProtocolError
from nats.protocol.parser import Parser

_CRLF = b"\r\n"
_MAX_CONTROL_LINE = 4096


class FastParser(Parser):
    """Drop-in replacement for `nats.protocol.parser.Parser` (same client hooks)."""

    def __init__(self, nc: Any = None) -> None:
        super().__init__(nc)
        self._pending = b""

    def reset(self) -> None:
        """Forget any partial data (nats-py calls this on reconnect)."""
        super().reset()
        self._pending = b""

    async def parse(self, data: bytes = b"") -> None:
        """Dispatch every complete message in `data` (plus what was left over last time)."""
        buf = self._pending + data if self._pending else data
        pos, end = 0, len(buf)
        direct = getattr(self.nc, "direct", {})
        while pos < end:
            eol = buf.find(_CRLF, pos)
            if eol < 0:
                if end - pos > _MAX_CONTROL_LINE:
                    raise ProtocolError("nats: control line too long")
                break
            op = buf[pos : pos + 4]
            if op == b"MSG " or op == b"HMSG":
                nxt = await self._message(buf, pos, eol, end, direct)
                if nxt < 0:
                    break
                pos = nxt
                continue
            # Rare control lines (PING, PONG, +OK, -ERR, INFO): let nats-py handle them.
            await super().parse(buf[pos : eol + 2])
            pos = eol + 2
        self._pending = buf[pos:]

    async def _message(self, buf: bytes, pos: int, eol: int, end: int, direct: dict) -> int:
        """Dispatch one MSG/HMSG starting at `pos`; return the next offset, -1 if incomplete."""
        args = buf[pos + 4 : eol].split()
        if buf[pos] == 0x48:  # HMSG subject sid [reply] hdr_len total_len
            hdr_len, total = int(args[-2]), int(args[-1])
            reply = args[2] if len(args) == 5 else b""
        else:  # MSG subject sid [reply] len
            hdr_len, total = 0, int(args[-1])
            reply = args[2] if len(args) == 4 else b""
        start = eol + 2
        stop = start + total
        if stop + 2 > end:
            return -1
        headers = buf[start : start + hdr_len] if hdr_len else None
        payload = buf[start + hdr_len : stop]
        sid = int(args[1])
        callback = direct.get(sid)
        if callback is not None:
            stats = self.nc.stats
            stats["in_msgs"] += 1
            stats["in_bytes"] += total - hdr_len
            pending = callback(args[0], reply, payload, headers)
            if pending is not None:
                await pending
        else:
            await self.nc._process_msg(sid, args[0], reply, payload, headers)
        return stop + 2
