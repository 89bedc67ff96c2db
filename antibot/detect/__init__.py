"""Bot detection: features, rules and verdicts (pure)."""
