"""The wire: WebSocket connections with deadlines and byte bounds, and credentials; no requirement here."""
