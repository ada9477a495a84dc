"""Tables of the whitepapers slice."""
