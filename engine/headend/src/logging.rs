//! Logs: human-readable text by default, JSON lines for log shippers, and a
//! level per module from `[log]`, `--log` or `RUST_LOG`.
//!
//! Precedence: `RUST_LOG` over `--log` / `--log-format` over the
//! configuration's `[log]` over the defaults (`info`, text).

use headend_model::config::{ConfigError, LogSection, SourceFile};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// The two output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (timestamps left to journald under systemd).
    Text,
    /// One JSON object per line.
    Json,
}

/// What `init` sets up.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `EnvFilter` directives.
    pub filter: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            filter: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Reads and checks the `[log]` section of a configuration file. A file
/// that cannot be read or parsed gives the defaults: loading the
/// configuration proper reports that error right after.
pub fn from_config(path: &std::path::Path) -> Result<LogSettings, Vec<ConfigError>> {
    let Ok(src) = SourceFile::read(path) else {
        return Ok(LogSettings::default());
    };
    let Ok(file) = headend_model::config::parse(&src) else {
        return Ok(LogSettings::default());
    };
    settings(&src, &file.log)
}

/// The settings of a `[log]` section, or every problem in it.
pub fn settings(src: &SourceFile, log: &LogSection) -> Result<LogSettings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut out = LogSettings::default();
    let mut level = "info".to_string();
    if let Some(l) = &log.level {
        if l.get_ref().parse::<LevelFilter>().is_ok() {
            level = l.get_ref().trim().to_ascii_lowercase();
        } else {
            errors.push(src.error_at(
                l.span().start,
                format!("[log] level {:?} is not a level", l.get_ref()),
                "write one of \"error\", \"warn\", \"info\", \"debug\", \"trace\", \"off\"",
            ));
        }
    }
    out.filter = level;
    if let Some(f) = &log.filter {
        let directives = f.get_ref().trim();
        if let Err(e) = EnvFilter::builder().parse(directives) {
            errors.push(src.error_at(
                f.span().start,
                format!("[log] filter {directives:?}: {e}"),
                "write comma-separated target=level directives, e.g. \"headend_server=debug,sled=warn\"",
            ));
        } else if !directives.is_empty() {
            out.filter = format!("{},{directives}", out.filter);
        }
    }
    if let Some(f) = &log.format {
        match f.get_ref().as_str() {
            "text" => out.format = LogFormat::Text,
            "json" => out.format = LogFormat::Json,
            other => errors.push(src.error_at(
                f.span().start,
                format!("[log] format {other:?} is not a log format"),
                "write \"text\" or \"json\"",
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Installs the global subscriber (stderr; under systemd that is the journal).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        // journald stamps every line itself (JOURNAL_STREAM is set when
        // stderr is the journal): a second timestamp is noise there.
        LogFormat::Text if std::env::var_os("JOURNAL_STREAM").is_some() => {
            builder.with_ansi(false).without_time().init()
        }
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}
