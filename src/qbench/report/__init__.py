"""Reports: rows from runs, leaderboards in the official column layouts, and renderers."""
