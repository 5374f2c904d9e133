"""Messenger-free conversations: every channel adapter feeds Inbound and renders Outbound."""
