//! Transaction input: EDN and JSON into [`super::TxOp`]s. (Stub.)
