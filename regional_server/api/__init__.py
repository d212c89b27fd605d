"""The kiosk API under /api/v1 (enroll, reports) and the indicators as JSON."""
