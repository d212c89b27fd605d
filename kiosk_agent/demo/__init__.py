"""`kiosk-agent demo`: the whole system on loopback, and the demo's upstream DNS responder."""
