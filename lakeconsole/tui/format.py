"""Plain number, size, age and time formatting for the console (no textual imports)."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta


def human_bytes(n: float | None) -> str:
    """1536 → '1.5 KB'."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def human_count(n: float | None) -> str:
    """1234567 → '1,234,567'; None → '-'."""
    return "-" if n is None else f"{int(n):,}"


def human_rate(n: float) -> str:
    """Events per second, compact: 12.3k/s."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M/s"
    if n >= 10_000:
        return f"{n / 1_000:.1f}k/s"
    return f"{n:,.0f}/s"


def human_age(seconds: float | None) -> str:
    """Seconds since something: '3s', '4m 10s', '2h 5m'; None → 'never'."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


# -- times -------------------------------------------------------------------------------
# Event and receive times are int64 nanoseconds since the epoch. Everything below stays in
# integers: a float holds only ~16 significant digits, and a ns timestamp has 19.

NS_PER_S = 1_000_000_000
MAX_NS = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
_DATE = r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
_ZULU = r"\s*(?P<z>Z|UTC)?"
_FULL = re.compile(rf"{_DATE}(?:[ T]{_TIME})?{_ZULU}", re.IGNORECASE)
_CLOCK = re.compile(rf"{_TIME}{_ZULU}", re.IGNORECASE)
TIME_FORMS = "14:30, 2026-11-27 14:30:00.5 or nanoseconds"


def utc_day(at: float | None = None) -> str:
    """Epoch seconds (default: now) → their UTC date, `YYYY-MM-DD`."""
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).strftime("%Y-%m-%d")


def wall_clock(seconds: int, local: bool = False) -> datetime:
    """The UTC (or local, per the TZ in force) wall clock of whole epoch seconds."""
    moment = _EPOCH + timedelta(seconds=seconds)
    # astimezone() with no zone uses the C library's local time, so TZ (and tzset) rule it.
    return moment.astimezone() if local else moment


def format_ns(ns: int | None, local: bool = False) -> str:
    """1_795_789_865_123_456_789 → '2026-11-27 14:31:05.123456789'; None → '-'."""
    if ns is None:
        return "-"
    seconds, frac = divmod(int(ns), NS_PER_S)
    return f"{wall_clock(seconds, local):%Y-%m-%d %H:%M:%S}.{frac:09d}"


def format_ns_many(values: list[int | None], local: bool = False) -> list[str | None]:
    """format_ns over a column; sorted event times share seconds, so each second is built once."""
    seconds_text: dict[int, str] = {}
    out: list[str | None] = []
    for ns in values:
        if ns is None:
            out.append(None)
            continue
        seconds, frac = divmod(ns, NS_PER_S)
        text = seconds_text.get(seconds)
        if text is None:
            text = seconds_text[seconds] = f"{wall_clock(seconds, local):%Y-%m-%d %H:%M:%S}"
        out.append(f"{text}.{frac:09d}")
    return out


def clock_time(at: float, local: bool = False) -> str:
    """Wall-clock seconds (time.time()) → 'HH:MM:SS' in UTC or local time."""
    return f"{wall_clock(math.floor(at), local):%H:%M:%S}"


def zone_label(local: bool, at: float | None = None) -> str:
    """What times are shown in: 'UTC' or e.g. 'local time (CET, UTC+01:00)'."""
    if not local:
        return "UTC"
    moment = wall_clock(math.floor(time.time() if at is None else at), local=True)
    offset = moment.strftime("%z")  # +0100
    return f"local time ({moment.tzname()}, UTC{offset[:3]}:{offset[3:]})"


def parse_time(text: str, date: str | None = None, local: bool = False) -> int | None:
    """'14:30' (on `date`), '2026-11-27 14:30:00.5' or plain ns → epoch ns; '' → None.

    Wall times are UTC unless `local` (a trailing Z or UTC forces UTC); ValueError says
    which forms are accepted.
    """
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        ns = int(text)
        if ns > MAX_NS:
            raise ValueError(f"{text} is beyond the largest int64 nanosecond time")
        return ns
    match = _FULL.fullmatch(text)
    if match is None:
        match = _CLOCK.fullmatch(text)
        if match is not None and not date:
            raise ValueError(f"{text!r} is a time of day: fill in the date too")
    if match is None:
        raise ValueError(f"cannot read {text!r} as a time; use {TIME_FORMS}")
    parts = match.groupdict()
    day = f"{parts['y']}-{parts['mo']}-{parts['d']}" if parts.get("y") else str(date)
    return _wall_to_ns(day, parts, local and not parts["z"], text)


def _wall_to_ns(day: str, parts: dict[str, str | None], local: bool, text: str) -> int:
    try:
        naive = datetime.strptime(day, "%Y-%m-%d").replace(
            hour=int(parts["h"] or 0), minute=int(parts["mi"] or 0), second=int(parts["s"] or 0))
    except ValueError as exc:
        raise ValueError(f"cannot read {text!r} as a time: {exc}") from exc
    # A naive datetime's astimezone() reads it as local wall time (mktime), DST included.
    aware = naive.astimezone() if local else naive.replace(tzinfo=UTC)
    delta = aware - _EPOCH
    fraction = (parts["f"] or "").ljust(9, "0")  # '.5' is 500 ms: pad, never float()
    ns = (delta.days * 86_400 + delta.seconds) * NS_PER_S + int(fraction or 0)
    if not 0 <= ns <= MAX_NS:
        raise ValueError(f"{text!r} is outside the int64 nanosecond range")
    return ns
