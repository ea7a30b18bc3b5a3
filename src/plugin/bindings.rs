//! Typed bindings generated from `wit/xform.wit` (world `host`).

wasmtime::component::bindgen!({
    path: "wit",
    world: "host",
    // Every export is called on wasmtime's async path, so that a deadline
    // can stop a guest even while it waits in a host call.
    exports: { default: async },
});
