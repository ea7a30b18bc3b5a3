//! Compiled guests from `plugins/out` (built by `bash plugins/build.sh`,
//! which the test command runs first) and a small generated source
//! database to run them on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eva_admin::db::Database;
use eva_admin::db::generate::{GenerateOptions, generate};
use eva_admin::migrate::{self, MigrateError, MigrateOptions, NoObserver, NodeXform};
use eva_admin::plugin::{Idents, PluginOptions, load_xforms};
use eva_admin::store::{MemStore, ValueStore};

/// The database id the guests' tests use.
pub const DB: &str = "demo";

/// The path of compiled guest `name`.
pub fn guest(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("plugins/out")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `bash plugins/build.sh` first",
        path.display()
    );
    path
}

/// Tight limits, and one compile cache for all test runs (under the target
/// directory), so each guest compiles once.
pub fn options() -> PluginOptions {
    PluginOptions {
        timeout: Duration::from_secs(1),
        memory_bytes: 64 << 20,
        fuel: None,
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
    }
}

/// A source database of `txs` generated transactions in memory, and its
/// attribute idents.
pub async fn source(txs: u64) -> (Arc<dyn ValueStore>, Idents) {
    let store: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let db = Database::create(store.clone(), DB).await.unwrap();
    generate(
        &db,
        &GenerateOptions {
            txs,
            datoms_per_tx: 10,
            seed: 5,
        },
        |_| {},
    )
    .await
    .unwrap();
    let schema = db.snapshot().await.unwrap().schema().clone();
    (
        store,
        Idents::new(schema.attributes().map(|a| (a.id, a.ident.clone()))),
    )
}

/// Guest `name` loaded with its configuration pairs, under [`options`].
pub fn load(name: &str, config: &[(&str, &str)], idents: &Idents) -> Vec<Box<dyn NodeXform>> {
    load_with(name, config, idents, &options())
}

/// Guest `name` loaded with its configuration pairs, under `options`.
pub fn load_with(
    name: &str,
    config: &[(&str, &str)],
    idents: &Idents,
    options: &PluginOptions,
) -> Vec<Box<dyn NodeXform>> {
    let config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load_xforms(&[(guest(name), config)], options, idents.clone()).unwrap()
}

/// Migrates [`DB`] from `src` to `dst` through `xforms`, in batches of 64.
pub async fn run(
    src: &Arc<dyn ValueStore>,
    dst: &Arc<dyn ValueStore>,
    xforms: &mut [Box<dyn NodeXform>],
) -> Result<migrate::MigrationReport, MigrateError> {
    let options = MigrateOptions {
        batch_size: 64,
        ..MigrateOptions::default()
    };
    migrate::migrate(
        src.clone(),
        dst.clone(),
        DB,
        &options,
        xforms,
        &mut NoObserver,
    )
    .await
}
