"""Sign-in through upstream identity providers: connections, the trip there and back, linking."""
