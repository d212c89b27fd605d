"""Signed things from the regional server other than feed bundles: key announcements,
content packs and settings overlays (docs/fleet.md). ``check.py`` runs in a worker."""
