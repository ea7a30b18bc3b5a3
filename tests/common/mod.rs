//! Helpers shared by the integration tests (`mod common;` in each test file).
// Each test file uses a different subset of the helpers.
#![allow(dead_code)]

pub mod guests;
pub mod servers;
