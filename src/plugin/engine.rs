//! The shared wasmtime engine and the epoch ticker. Each tick makes running
//! guest code yield to its plugin's runtime (see `instance`), where the
//! call's deadline timer is checked.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine};

/// How often the epoch advances: a running guest yields this often, so a
/// deadline is seen within about one tick.
pub const TICK: Duration = Duration::from_millis(10);

/// The engine for plugins with fuel metering on or off (fuel changes the
/// compiled code, so they are distinct engines and distinct cache entries).
pub fn engine(fuel: bool) -> Result<&'static Engine, String> {
    static PLAIN: OnceLock<Result<Engine, String>> = OnceLock::new();
    static FUELED: OnceLock<Result<Engine, String>> = OnceLock::new();
    let cell = if fuel { &FUELED } else { &PLAIN };
    cell.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(fuel);
        let engine = Engine::new(&config).map_err(|e| e.to_string())?;
        start_ticker(engine.clone());
        Ok(engine)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A background thread that advances the engine's epoch every [`TICK`] for
/// the life of the process.
fn start_ticker(engine: Engine) {
    let spawned = std::thread::Builder::new()
        .name("eva-admin-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(
            "cannot start the plugin deadline ticker: {e}; plugin calls will not time out"
        );
    }
}

/// Identifies the engine settings that affect compiled code, for cache keys.
pub fn settings_fingerprint(engine: &Engine, fuel: bool) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("wasmtime-48-fuel-{fuel}-{:016x}", h.finish())
}
