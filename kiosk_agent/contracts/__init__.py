"""What the agent and the regional server share: report schema, feed format, manifest.

The regional server imports only these modules of the agent (and ``kiosk_agent.errors``,
``kiosk_agent.__version__``); docs/contracts.md lists them and tests/test_layering.py
enforces it.
"""
