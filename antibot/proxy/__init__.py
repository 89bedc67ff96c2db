"""The sans-IO proxy core: routing, Record-Route/Path, upstream choice (RFC 3261 §16)."""
