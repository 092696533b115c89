//! Decision traces for `headend explain`: the pipeline notes why it chose
//! what it chose; in the server the trace is off and costs one branch.

/// A trace that records notes only when enabled.
#[derive(Debug, Default)]
pub struct Trace(Option<Vec<String>>);

impl Trace {
    /// A trace that records.
    pub fn enabled() -> Self {
        Trace(Some(Vec::new()))
    }

    /// A trace that records nothing (the server's hot path).
    pub fn disabled() -> Self {
        Trace(None)
    }

    /// Records a note; the closure runs only when the trace is enabled.
    pub fn note(&mut self, f: impl FnOnce() -> String) {
        if let Some(v) = &mut self.0 {
            v.push(f());
        }
    }

    /// Whether notes are recorded.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The notes so far.
    pub fn notes(&self) -> &[String] {
        self.0.as_deref().unwrap_or(&[])
    }
}
