"""What every curation step returns: its scores and its decision."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class StepResult:
    """One step's verdict on one clip.

    ``scores`` holds plain JSON numbers (rounded), ``drop`` whether the step rejects the clip,
    ``reason`` a short machine-readable word when it does (``static``, ``dynamic``,
    ``small_viewpoint``, ``blurry``, ...), ``detail`` one human-readable line.
    """

    step: str
    scores: dict = field(default_factory=dict)
    drop: bool = False
    reason: str | None = None
    detail: str = ""

    def to_dict(self) -> dict:
        return {"scores": clean(self.scores), "drop": self.drop, "reason": self.reason, "detail": self.detail}


def clean(x, digits: int = 5):
    """JSON-safe copy: floats rounded, NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): clean(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v, digits) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return round(x, digits) if math.isfinite(x) else None
    return x
