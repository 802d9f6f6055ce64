"""Risk control: features, scoring, decisions, fraud screening, early warning."""
