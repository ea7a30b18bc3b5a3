//! Database statistics: entries, nodes per kind, bytes. (Stub.)
