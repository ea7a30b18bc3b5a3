//! The deterministic demo-data generator. (Stub.)
