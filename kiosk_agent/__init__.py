"""kiosk-agent: a safety agent for internet-café PCs (notices, filtering, reporting)."""

__version__ = "0.1.0"
