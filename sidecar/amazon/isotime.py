"""Amazon's ISO 8601 date-times <-> the product's naive-UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """ISO 8601 from Amazon ('2024-12-25T09:15:00Z', '...00.123Z', '+01:00') -> naive UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def format_time(value: datetime) -> str:
    """Naive UTC (or aware) datetime -> '2026-01-02T03:04:05Z' (Amazon's date-time)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
