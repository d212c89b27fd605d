"""The one error every service control raises (``service_control``, ``windows_control``)."""


class ControlError(Exception):
    """A stop, start or switch command failed."""
