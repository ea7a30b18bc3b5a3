//! What the plugin tests share: the compiled guests of `plugins/out/`, the
//! sandbox options, a small generated source database, loading plugins and
//! a migration through them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eva_admin::db::Database;
use eva_admin::db::generate::{GenerateOptions, generate};
use eva_admin::migrate::{self, MigrateError, MigrateOptions, NoObserver, NodeXform};
use eva_admin::plugin::{Idents, PluginError, PluginOptions, load_xforms};
use eva_admin::store::{MemStore, ValueStore};

/// The database id of the generated sources.
pub const DB: &str = "demo";

/// A guest built by `bash plugins/build.sh` into `plugins/out/<name>.wasm`.
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

/// The directory of the compile cache all test runs share (under the
/// target directory), so each guest compiles once.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// A 1 s deadline, a 64 MiB cap, no fuel, the shared compile cache.
pub fn options() -> PluginOptions {
    PluginOptions {
        timeout: Duration::from_secs(1),
        memory_bytes: 64 << 20,
        fuel: None,
        cache_dir: Some(cache_dir()),
    }
}

/// An in-memory store holding database [`DB`] generated with `txs`
/// transactions of 10 datoms, and the idents of its attributes.
pub async fn source(txs: u64) -> (Arc<dyn ValueStore>, Idents) {
    source_seeded(txs, 5).await
}

/// [`source`], generated from `seed`.
pub async fn source_seeded(txs: u64, seed: u64) -> (Arc<dyn ValueStore>, Idents) {
    let store: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let db = Database::create(store.clone(), DB).await.unwrap();
    generate(
        &db,
        &GenerateOptions {
            txs,
            datoms_per_tx: 10,
            seed,
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

/// Loads (and initializes, with `config`) the plugin at `path`.
pub fn load_path(
    path: &Path,
    config: &[(&str, &str)],
    idents: &Idents,
    options: &PluginOptions,
) -> Result<Vec<Box<dyn NodeXform>>, PluginError> {
    let config = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load_xforms(&[(path.to_path_buf(), config)], options, idents.clone())
}

/// Migrates [`DB`] from `src` into `dst` through `xforms`, 64 nodes a batch.
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

/// Guest `name` of `plugins/out`, loaded with its configuration pairs under
/// [`options`].
pub fn load(name: &str, config: &[(&str, &str)], idents: &Idents) -> Vec<Box<dyn NodeXform>> {
    load_with(name, config, idents, &options())
}

/// Guest `name` of `plugins/out`, loaded with its configuration pairs under
/// `options`.
pub fn load_with(
    name: &str,
    config: &[(&str, &str)],
    idents: &Idents,
    options: &PluginOptions,
) -> Vec<Box<dyn NodeXform>> {
    load_path(&guest(name), config, idents, options).unwrap()
}
