"""The agent's own network clients: DNS wire format, direct DNS and HTTP, the server clock."""
