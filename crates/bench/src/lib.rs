//! Holds no code: the benchmarks are the `boom-bench` binary.
