"""The one exception the CLI turns into a plain-language message without a traceback."""


class UserError(Exception):
    """A mistake the person running the command can fix (bad path, bad value, wrong PIN).

    The CLI prints ``str(error)`` and exits with ``exit_code``; no traceback.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
