"""Stage 2 of URL-level blocking: a loopback proxy for hosts that carry listed pages.

``http`` and ``tls`` parse what the proxy reads (request heads, ClientHello SNI),
``decide`` holds the pure block / forward decisions, ``server`` runs the listeners,
``component`` plugs it into the service. See docs/url-blocking.md.
"""
