//! Holds no code: the demo is the `boom-demo` binary.
