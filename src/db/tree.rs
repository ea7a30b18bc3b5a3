//! Copy-on-write B+tree operations over stored index nodes. (Stub.)
