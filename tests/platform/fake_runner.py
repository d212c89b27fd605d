"""A fake ``CommandRunner`` that records every command and answers from a script."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kiosk_agent.platform.base import CommandResult


class FakeRunner:
    """Records ``argv`` lists; ``answer(argv)`` (default: success, no output) replies."""

    def __init__(self, answer: Callable[[list[str]], CommandResult] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answer = answer or (lambda argv: CommandResult(0))

    def __call__(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        self.calls.append(list(argv))
        return self.answer(list(argv))

    def programs(self) -> list[str]:
        return [c[0] for c in self.calls]
