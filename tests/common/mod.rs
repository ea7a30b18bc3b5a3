//! Helpers shared by the integration tests (`mod common;` in each test file).
// Each test file uses a different subset of the helpers.
#![allow(dead_code)]

pub mod plugin_fixtures;
pub mod servers;
pub mod wat_guest;
