//! Holds no code: the integration tests of the whole workspace live in `tests/it/`, one test binary.
