"""The service process: its wiring, control API, status, PIN and worker children.

Kept empty: the UI process imports ``service.control_client`` and must not load the
service's wiring (and through it every component) on the way.
"""
