//! Measures what a plugin costs per node: the identity plugins (Rust,
//! Python, JavaScript) called on real index leaves of a generated database,
//! at batch sizes 1, 16 and 256, conversions both ways included.
//!
//! ```sh
//! bash plugins/build.sh
//! cargo run --release --example plugin_cost [PLUGIN.wasm ...]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use eva_admin::db::Database;
use eva_admin::db::generate::{GenerateOptions, generate};
use eva_admin::model::{self, Node};
use eva_admin::plugin::{Idents, Plugin, PluginOptions};
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
    let schema = db.snapshot().await?.schema().clone();
    let idents = Arc::new(Idents::new(
        schema.attributes().map(|a| (a.id, a.ident.clone())),
    ));
    let mut leaves = Vec::new();
    let mut after: Option<String> = None;
    while leaves.len() < 2048 {
        let page = store.scan("bench", after.as_deref(), 1000).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (key, bytes) in page {
            if let Ok(node @ Node::IndexLeaf(_)) = model::decode(&bytes) {
                leaves.push((key, node));
            }
        }
    }
    let avg: usize = leaves
        .iter()
        .map(|(_, n)| match n {
            Node::IndexLeaf(l) => l.datoms.len(),
            _ => 0,
        })
        .sum::<usize>()
        / leaves.len().max(1);
    println!("{} leaves of {avg} datoms on average", leaves.len());
    for path in paths {
        let mut plugin = Plugin::load(&path, &PluginOptions::default())?;
        plugin.init(&[])?;
        // A warm-up pass, then the best of three passes per batch size.
        for chunk in leaves.chunks(16) {
            plugin.read(chunk.to_vec(), &idents)?;
        }
        for batch in [1usize, 16, 256] {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let started = Instant::now();
                let mut nodes = 0;
                for chunk in leaves.chunks(batch) {
                    nodes += plugin.read(chunk.to_vec(), &idents)?.len();
                }
                best = best.min(started.elapsed().as_secs_f64() / nodes as f64 * 1e6);
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
