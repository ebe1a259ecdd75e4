"""Throttling: counters of recent attempts (failed sign-ins and codes, requests that send mail),
one table, one store, in the database, so every worker and node counts alike."""
