//! Plugin declarations (`[[plugin]]`): which WASM module serves which hook
//! (flow selection, config-file generation, management events), with its
//! configuration table and limits. The modules themselves are compiled and
//! run by `headend-plugin`; the snapshot only names them.

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigFile;
use crate::snapshot::Builder;

/// `[[plugin]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginDecl {
    /// Plugin name (used in logs and counters).
    pub name: String,
    /// Path of the `.wasm` file, relative to the configuration file.
    pub path: Spanned<String>,
}

/// A validated plugin declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginDef {
    /// Plugin name.
    pub name: String,
    /// Absolute or config-relative path of the module.
    pub path: std::path::PathBuf,
}

/// Validates `[[plugin]]`; errors go to the builder.
pub(crate) fn build(b: &mut Builder<'_>, file: &ConfigFile) -> Vec<PluginDef> {
    let base = b.base_dir();
    file.plugins
        .iter()
        .map(|p| PluginDef {
            name: p.get_ref().name.clone(),
            path: base.join(p.get_ref().path.get_ref()),
        })
        .collect()
}
