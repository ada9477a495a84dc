"""Tables of the bookings slice."""
