"""Use cases: what the service does, over a unit of work; no SQL, no protobuf."""
