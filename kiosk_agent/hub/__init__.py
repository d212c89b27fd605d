"""The café hub: one PC mirrors feeds, relays reports, sums the café's link, shows every PC.

docs/cafe-hub.md has the roles, the trust model and the fallbacks. Nothing here is
imported by a kiosk whose ``cafe.hub`` is ``off``.
"""
