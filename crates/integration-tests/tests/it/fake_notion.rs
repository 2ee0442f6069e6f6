//! The local Notion-compatible server lives in the test kit, shared with the demo.

pub use boom_testkit::notion::*;
