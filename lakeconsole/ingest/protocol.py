"""The NATS wire protocol beneath nats-py's public API: parse, dispatch and write raw lines.

Ingest receives and sends hundreds of thousands of small messages a second, and nats-py's
per-message costs (a regular expression and a buffer copy per MSG, a Msg object, header
parsing, a queue and a task per message) dominate at that rate. This module owns the
protocol-level shortcuts that avoid them:

* `FastParser` walks the read buffer by offset, splits control lines with `bytes.split`,
  and calls the client's direct (synchronous) callbacks without a coroutine. Everything
  that is not MSG/HMSG is handed to nats-py's own parser unchanged.
* `FastClient` installs that parser and routes chosen subscriptions (`direct_subscribe`)
  straight to a `DirectCallback` taking raw bytes.
* `publish_all` queues many ``PUB`` lines in one call, and `parse_status` reads the
  ``NATS/1.0 <code> <text>`` status headers that come back.

These shortcuts use nats-py internals, and every such access lives in this module.
`new_client` checks at connect time that the internals are there; if a nats-py release
moved them, it logs a warning and returns nats-py's stock client, which is slower but
speaks the same protocol (pyproject.toml also caps nats-py below its next major version).

JetStream semantics (ack subjects and payloads) live in `lakeconsole.ingest.messages`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nats.aio.client import Client as NATSClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.protocol.parser import Parser

log = logging.getLogger(__name__)
_CRLF = b"\r\n"
# The nats-py Client internals FastClient relies on (checked by `new_client`).
REQUIRED_INTERNALS = ("_process_msg", "_send_command", "_flush_pending", "_ps")
# (subject, payload, reply subject or "") of one publish
Publish = tuple[str, bytes, str]

# (subject, reply, payload, raw headers) -> None or an awaitable to run before the next message
DirectCallback = Callable[[bytes, bytes, bytes, bytes | None], Awaitable[None] | None]


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
                break  # an incomplete line of any length (a long INFO): wait, as nats-py does
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

    async def _message(
        self, buf: bytes, pos: int, eol: int, end: int, direct: dict[int, DirectCallback]
    ) -> int:
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


class FastClient(NATSClient):
    """nats-py client that hands chosen subscriptions' messages straight to a sync callback.

    nats-py builds a Msg, parses headers and goes through a queue and a task per message;
    for the pull inboxes and reply counters that is most of the per-message cost. The hook
    is nats-py's ``_process_msg(sid, subject, reply, data, headers)`` (stable in 2.x; the
    integration tests fail loudly if it changes).
    """

    def __init__(self) -> None:
        super().__init__()
        self.direct: dict[int, DirectCallback] = {}
        self._ps = FastParser(self)

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        direct = self.direct.get(sid)
        if direct is None:
            # nats-py annotates headers as bytes but passes None for plain MSG.
            await super()._process_msg(sid, subject, reply, data, headers)  # type: ignore[arg-type]
            return
        stats = self.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        pending = direct(subject, reply, data, headers)
        if pending is not None:
            await pending


def new_client() -> NATSClient:
    """A FastClient, or nats-py's stock client (with a warning) if its internals moved."""
    probe = NATSClient()
    missing = [name for name in REQUIRED_INTERNALS if not hasattr(probe, name)]
    if missing:
        log.warning("nats-py lacks %s: using its stock parser (slower ingest, same results)",
                    ", ".join(missing))
        return NATSClient()
    return FastClient()


async def direct_subscribe(nc: NATSClient, subject: str, callback: DirectCallback) -> Subscription:
    """Subscribe ``subject`` with direct dispatch (a Msg callback on plain nats-py clients)."""

    async def via_msg(msg: Msg) -> None:  # only used if nc is not a FastClient
        raw = _raw_headers(msg.headers)
        pending = callback(msg.subject.encode(), msg.reply.encode(), msg.data, raw)
        if pending is not None:
            await pending

    sub = await nc.subscribe(subject, cb=via_msg, pending_msgs_limit=0, pending_bytes_limit=0)
    sid = getattr(sub, "_id", None)
    if isinstance(nc, FastClient) and isinstance(sid, int):
        nc.direct[sid] = callback
    return sub


async def direct_unsubscribe(nc: NATSClient, sub: Subscription) -> None:
    """Stop direct dispatch and unsubscribe (errors of a dying connection are ignored)."""
    if isinstance(nc, FastClient):
        nc.direct.pop(getattr(sub, "_id", -1), None)
    with contextlib.suppress(Exception):
        await sub.unsubscribe()


def _raw_headers(headers: dict[str, str] | None) -> bytes | None:
    if not headers:
        return None
    status = headers.get("Status", "")
    lines = [f"NATS/1.0 {status} {headers.get('Description', '')}".rstrip()]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in ("Status", "Description")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_status(raw: bytes | None) -> tuple[str, str, dict[str, str]]:
    """Split raw ``NATS/1.0 408 Request Timeout\\r\\nK: V...`` headers into (code, text, dict)."""
    if not raw:
        return "", "", {}
    lines = raw.decode("utf-8", "replace").split("\r\n")
    first = lines[0].split(" ", 2)
    code = first[1] if len(first) > 1 else ""
    text = first[2] if len(first) > 2 else ""
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return code, text, fields


async def publish_all(nc: NATSClient, items: Sequence[Publish]) -> None:
    """Queue many publishes at once: raw PUB lines on a FastClient, else nats-py's publish."""
    if not items:
        return
    if isinstance(nc, FastClient):
        await nc._send_command(b"".join(pub_cmd(s, p, r) for s, p, r in items))
        await nc._flush_pending()
        return
    for subject, payload, reply in items:
        await nc.publish(subject, payload, reply=reply)


def pub_cmd(subject: str, payload: bytes, reply: str = "") -> bytes:
    """One ``PUB`` protocol line with its payload."""
    if reply:
        return f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n"
    return f"PUB {subject} {len(payload)}\r\n".encode() + payload + b"\r\n"
