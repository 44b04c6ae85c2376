"""Calls placed by browser phones (`device.connect`): they run the Application of the caller's access token,
as Twilio's Voice SDK calls do, with `From=client:<identity>`, `Direction=inbound`, and `ApplicationSid`
and the call's custom parameters (`To` among them) on its webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telephonist.carriers.base import Leg
from telephonist.store.db import Row
from telephonist.voice.session import CallSession

if TYPE_CHECKING:
    from telephonist.app import Platform


class ClientCall(CallSession):
    """Its webhooks carry `extra` (ApplicationSid, the custom parameters) besides the standard set; a
    custom parameter named like a standard one does not replace it."""

    def __init__(self, platform: Platform, row: Row, leg: Leg, extra: list[tuple[str, str]]) -> None:
        super().__init__(platform, row, leg)
        self.extra = extra

    def _standard_params(self) -> list[tuple[str, str]]:
        params = super()._standard_params()
        names = {name for name, _ in params}
        return params + [(name, value) for name, value in self.extra if name not in names]
