//! Measures what a plugin costs per node: the identity plugins (Rust,
//! Python, JavaScript) called on real index leaves of a generated database,
//! at batch sizes 1, 16 and 256, conversions both ways included. The same
//! measurement (Rust identity only) is part of `eva-admin bench` (P2).
//!
//! ```sh
//! bash plugins/build.sh
//! cargo run --release --example plugin_cost [PLUGIN.wasm ...]
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use eva_admin::bench::plugin_cost::{
    BATCH_SIZES, cost_per_node, idents_of, mean_datoms, sample_leaves,
};
use eva_admin::db::Database;
use eva_admin::db::generate::{GenerateOptions, generate};
use eva_admin::plugin::{Plugin, PluginOptions};
use eva_admin::store::{MemStore, ValueStore};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let paths: Vec<PathBuf> = match std::env::args()
        .skip(1)
        .map(PathBuf::from)
        .collect::<Vec<_>>()
    {
        p if p.is_empty() => ["identity", "identity-py", "identity-js"]
            .iter()
            .map(|g| PathBuf::from(format!("plugins/out/{g}.wasm")))
            .collect(),
        p => p,
    };
    let store: Arc<dyn ValueStore> = Arc::new(MemStore::open(None));
    let db = Database::create(store.clone(), "bench").await?;
    generate(
        &db,
        &GenerateOptions {
            txs: 200,
            datoms_per_tx: 10,
            seed: 1,
        },
        |_| {},
    )
    .await?;
    let idents = Arc::new(idents_of(&db).await?);
    let leaves = sample_leaves(store.as_ref(), "bench", 2048).await?;
    println!(
        "{} leaves of {:.0} datoms on average",
        leaves.len(),
        mean_datoms(&leaves)
    );
    for path in paths {
        let mut plugin = Plugin::load(&path, &PluginOptions::default())?;
        plugin.init(&[])?;
        // A warm-up pass, then the best of three passes per batch size.
        cost_per_node(&mut plugin, &leaves, &idents, 16)?;
        for batch in BATCH_SIZES {
            let mut best = f64::MAX;
            for _ in 0..3 {
                best = best.min(cost_per_node(&mut plugin, &leaves, &idents, batch)?);
            }
            println!(
                "{:<14} batch {batch:>3}: {best:8.1} µs per node (best of 3 passes over {} leaves)",
                plugin.name(),
                leaves.len()
            );
        }
    }
    Ok(())
}
