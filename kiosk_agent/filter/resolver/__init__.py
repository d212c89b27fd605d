"""The kiosk's local DNS resolver: a chain of small handlers behind a UDP/TCP server.

``chain.build_chain`` orders the handlers; ``server.DnsServer`` runs them.
"""
