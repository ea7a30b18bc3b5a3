//! Typed bindings generated from `wit/xform.wit` (world `host`).

wasmtime::component::bindgen!({
    path: "wit",
    world: "host",
});
