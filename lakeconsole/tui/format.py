"""Plain number, size and age formatting for the console (no textual imports)."""

from __future__ import annotations


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
