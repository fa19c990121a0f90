"""The lake's tiers, in their natural order (no pyarrow: the command line needs them early)."""

from __future__ import annotations

from typing import Literal, TypeGuard

Tier = Literal["bronze", "silver", "gold", "quarantine"]
DATA_TIERS: tuple[Tier, ...] = ("bronze", "silver", "gold")
TIERS: tuple[Tier, ...] = (*DATA_TIERS, "quarantine")


def is_tier(name: str) -> TypeGuard[Tier]:
    """Whether `name` is one of the lake's tiers."""
    return name in TIERS
