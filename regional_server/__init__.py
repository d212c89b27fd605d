"""The regional server: kiosk enrollment, signed report ingest, feeds, coordinators' dashboard."""
