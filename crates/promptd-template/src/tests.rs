//! Unit tests of the engine; fixtures live in tests/fixtures.
