"""Tables of the webinars slice."""
