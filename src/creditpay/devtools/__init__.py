"""Developer tooling shipped with the package (throwaway PostgreSQL for tests and benches)."""
