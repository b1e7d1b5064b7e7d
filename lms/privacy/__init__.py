"""Data-subject rights: a person's own data, and erasure after retention or on request."""
