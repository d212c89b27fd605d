"""The coordinators' dashboard: server-rendered pages, SVG charts, CSV and JSON."""
