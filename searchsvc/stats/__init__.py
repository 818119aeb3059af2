"""Stats: the query log and what it reports (SQLite)."""
