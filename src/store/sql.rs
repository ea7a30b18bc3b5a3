//! What the SQL backends share: the `eva_kv` table shape.
