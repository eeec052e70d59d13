//! Choosing and opening the configuration store backend from the command line.

use std::path::PathBuf;
use std::sync::Arc;

use sdn_store::{SqliteStore, Store};

/// Where the configuration lives; every command that touches it takes these.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Directory holding the embedded store (sdnd.db) and the TLS certificate.
    #[arg(long, default_value = "/var/lib/sdnd")]
    pub data_dir: PathBuf,
}

/// Opens the store `args` select.
pub fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>, String> {
    let data_dir = &args.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    let path = data_dir.join("sdnd.db");
    let store = SqliteStore::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    Ok(Arc::new(store))
}
