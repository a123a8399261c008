"""When and how the console pages the human: an org's `[org.paging]` settings.

A page asks for the human's attention where they are (the terminal's message and bell, a desktop notification)
for what only they can settle: an approval left waiting, an agent in error, a circuit breaker open.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["terminal", "desktop"]


class Paging(BaseModel):
    """An org's paging settings (`[org.paging]` in its spec); the defaults page for all three, on both channels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval_after: float = Field(default=60.0, ge=0, le=86_400)  # an approval undecided this long pages
    on_error: bool = True  # an agent turning `error` pages
    on_breaker: bool = True  # a circuit breaker opening pages
    channels: tuple[Channel, ...] = Field(default=("terminal", "desktop"), max_length=2)
    min_gap: float = Field(default=30.0, ge=0, le=86_400)  # from one page to the next, whatever it is for
    repeat_after: float = Field(default=600.0, ge=0, le=86_400)  # the same thing pages again only after this
