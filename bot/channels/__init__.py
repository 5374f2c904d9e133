"""Channel adapters: turn messenger updates into Inbound and render Outbound."""
