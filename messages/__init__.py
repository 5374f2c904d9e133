"""The leaf every layer may import: the message catalog (every text a person reads) and the
shapes of what is said (Inbound, Outbound, Option, Undeliverable). It imports nothing of ours."""
