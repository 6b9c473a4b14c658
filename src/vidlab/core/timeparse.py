"""Parsing of times ("90", "1:30", "00:01:30.5") and rates ("30", "29.97", "30000/1001")."""

from __future__ import annotations

from fractions import Fraction

from vidlab.core.errors import UsageError

_NTSC = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "59.94": Fraction(60000, 1001)}


def parse_time(text: str, what: str = "time") -> Fraction:
    """Seconds, or [hh:]mm:ss[.frac], as an exact Fraction."""
    try:
        parts = text.strip().split(":")
        if not 1 <= len(parts) <= 3 or any(p == "" for p in parts):
            raise ValueError
        value = Fraction(0)
        for p in parts:
            value = value * 60 + Fraction(p)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{what} '{text}' is not a time (seconds, or [hh:]mm:ss[.frac])") from None
    if value < 0:
        raise UsageError(f"{what} must not be negative, got '{text}'")
    return value


def parse_rate(text: str, what: str = "fps") -> Fraction:
    """A frame rate as an exact Fraction: "30", "30000/1001"; "29.97" means 30000/1001."""
    t = text.strip()
    try:
        rate = _NTSC.get(t) or Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{what} '{text}' is not a number or fraction such as 30000/1001") from None
    if rate <= 0:
        raise UsageError(f"{what} must be > 0, got '{text}'")
    return rate


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise UsageError(f"size '{text}' is not WIDTHxHEIGHT, such as 1280x720") from None
