"""`notices show`: the notice window on its own, for operators to preview and for tests."""

from __future__ import annotations

import contextlib
import logging
import sys
import tkinter as tk
from collections.abc import Sequence

from kiosk_agent.content.countries import country_for
from kiosk_agent.errors import UserError
from kiosk_agent.notices.rotation import TipRotation
from kiosk_agent.notices.window import NoticeWindow
from kiosk_agent.reporting.events import Event

log = logging.getLogger(__name__)
SETTLE_MS = 400  # let the window map and paint before grabbing it


def show_notice(
    *,
    languages: list[str],
    country: str | None,
    font_size: int,
    min_display: float,
    size: tuple[int, int] | None,
    screenshot: str | None,
    tip: str | None = None,
) -> int:
    try:
        root = tk.Tk(className="kiosk-agent")
    except tk.TclError as e:
        raise UserError(f"cannot open a window (no display?): {e}") from None
    root.withdraw()

    def report(event: Event) -> None:
        print(f"{event.event_type} {event.to_dict()}", file=sys.stderr)

    window = NoticeWindow(
        root,
        languages=languages,
        country=country_for(country),
        min_display=min_display,
        font_size=font_size,
        on_event=report,
        on_close=root.quit,
        size=size,
        rotation=_FixedTip(tip) if tip else None,
    )
    window.show()

    if screenshot:

        def grab() -> None:
            try:
                window.capture().save(screenshot)
                print(f"saved {screenshot}")
            finally:
                root.quit()

        root.after(SETTLE_MS, grab)
    root.mainloop()
    with contextlib.suppress(tk.TclError):
        root.destroy()
    return 0


class _FixedTip(TipRotation):
    """``notices show --tip ID``: always that tip (the first where a locale lacks it), so
    two renderings can be compared pixel for pixel (installer/check_bundle.py)."""

    def __init__(self, tip: str) -> None:
        super().__init__(None)
        self.tip = tip

    def choose(self, tip_ids: Sequence[str]) -> str:
        return self.tip if self.tip in tip_ids else tip_ids[0]
