"""exchanges/sandbox."""
