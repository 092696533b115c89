//! Run-time expressions (seed 004 §3.7 "Expressions", §5.7 "DHCP Options"):
//! option values, the auto-provisioning domain list, pool Allow/Deny and,
//! later, TFTP root/access and syslog triggers are Rhai scripts evaluated
//! per packet. The seed's `$RELAY.ADDRESS() + 1` is `relay.address + 1`.
//!
//! [`ExprEngine`] is a sandboxed Rhai engine shared by every thread: no
//! `eval`, no modules, no file, time or sleep functions, and hard limits on
//! operations, call depth, nesting and value sizes so that one bad script
//! costs one option, never the server. A configuration loader compiles each
//! expression once into an [`Expr`]; the DHCP pipeline fills an
//! [`EvalContext`], opens one [`Session`] per packet and evaluates each
//! expression against it. The script-side contract is policies/README.md.

mod context;
mod ip;
mod lint;

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicBlobPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, BitFieldPackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::Caches;
use rhai::{
    Blob, Dynamic, Engine, EvalAltResult, FuncRegistration, ImmutableString, ParseError,
    ParseErrorType, Position, Scope, AST,
};

use crate::literal::Literal;

pub use context::{
    AccountInfo, DeviceInfo, EvalContext, LeaseInfo, PacketInfo, PoolInfo, RawOptions, RelayInfo,
};
pub use ip::Ip;

use context::CONTEXT_NAMES;

/// Resource limits of every evaluation (and of compilation, for nesting and literal sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExprLimits {
    /// Rhai operations one evaluation may run before it is stopped as "ran too long".
    pub max_operations: u64,
    /// Deepest chain of nested function calls (recursion depth).
    pub max_call_levels: usize,
    /// Deepest expression nesting at top level.
    pub max_expr_depth: usize,
    /// Deepest expression nesting inside `fn` bodies.
    pub max_function_expr_depth: usize,
    /// Longest string, in bytes.
    pub max_string_size: usize,
    /// Most elements of an array or bytes of a blob.
    pub max_array_size: usize,
    /// Most entries of an object map.
    pub max_map_size: usize,
}

impl Default for ExprLimits {
    fn default() -> Self {
        ExprLimits {
            max_operations: 10_000,
            max_call_levels: 16,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            // A DHCPv4 packet, and so any option or hex dump of one, fits easily.
            max_string_size: 8192,
            max_array_size: 8192,
            max_map_size: 256,
        }
    }
}

/// Where an expression was written, for every message about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The configuration file (or `.rhai` script) holding the expression.
    pub file: PathBuf,
    /// 1-based line of the expression's first character in that file.
    pub line: usize,
    /// What the expression computes, e.g. `policy cm-options option 125/4491/2`.
    pub what: String,
}

/// What kind of failure an [`ExprError`] is, for counters and log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExprErrorKind {
    /// The text is not a valid expression (found when the configuration is loaded).
    Syntax,
    /// The script failed while running: unknown function, bad argument, `throw`, overflow.
    Runtime,
    /// The operation budget ran out ([`ExprLimits::max_operations`]).
    TooLong,
    /// A size or depth limit was hit: call depth, nesting, string, array or map size.
    Limit,
    /// The script ran but returned a value of a type the caller cannot use.
    WrongType,
}

impl ExprErrorKind {
    /// A short stable name, used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ExprErrorKind::Syntax => "syntax",
            ExprErrorKind::Runtime => "runtime",
            ExprErrorKind::TooLong => "too_long",
            ExprErrorKind::Limit => "limit",
            ExprErrorKind::WrongType => "wrong_type",
        }
    }
}

impl fmt::Display for ExprErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed compilation or evaluation, located in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}{}: {}{message}", .file.display(), column_suffix(*.column), what_prefix(.what))]
pub struct ExprError {
    /// The file the expression is in.
    pub file: PathBuf,
    /// 1-based line in that file (the origin line plus the line within the expression, minus one).
    pub line: usize,
    /// 1-based column within that line of the expression text, when Rhai knows it.
    pub column: Option<usize>,
    /// What the expression computes (from its [`Origin`]).
    pub what: String,
    /// The kind of failure.
    pub kind: ExprErrorKind,
    /// What went wrong and what to change.
    pub message: String,
}

fn column_suffix(column: Option<usize>) -> String {
    column.map_or_else(String::new, |c| format!(":{c}"))
}

fn what_prefix(what: &str) -> String {
    if what.is_empty() {
        String::new()
    } else {
        format!("{what}: ")
    }
}

impl ExprError {
    fn new(origin: &Origin, kind: ExprErrorKind, pos: Position, message: String) -> Self {
        let base = origin.line.max(1);
        let (line, column) = match pos.line() {
            Some(l) => (base.saturating_add(l.saturating_sub(1)), pos.position()),
            None => (base, None),
        };
        ExprError {
            file: origin.file.clone(),
            line,
            column,
            what: origin.what.clone(),
            kind,
            message,
        }
    }
}

/// A compiled expression: cheap to clone, evaluated by any [`Session`] of the engine that compiled it.
#[derive(Clone)]
pub struct Expr(Arc<ExprInner>);

struct ExprInner {
    ast: AST,
    origin: Origin,
    source: String,
}

impl Expr {
    /// Where the expression was written.
    pub fn origin(&self) -> &Origin {
        &self.0.origin
    }

    /// The expression's text, as compiled.
    pub fn source(&self) -> &str {
        &self.0.source
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expr")
            .field("origin", &self.0.origin)
            .field("source", &self.0.source)
            .finish()
    }
}

/// Source of [`ExprEngine`] ids.
static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

/// Bound on one thread's cached function resolutions (each call site's
/// function and argument types: a few hundred for a large configuration).
const MAX_CACHED_RESOLUTIONS: usize = 4096;

thread_local! {
    /// This thread's function-resolution cache and the engine it is for.
    static RESOLUTION_CACHE: RefCell<(u64, Caches)> = const { RefCell::new((0, Caches::new())) };
}

/// The sandboxed Rhai engine; `Send + Sync`, shared by all threads through an `Arc`.
pub struct ExprEngine {
    engine: Engine,
    /// The context API the engine registered, for the load-time checks.
    api: lint::Api,
    /// Tells this engine's function-resolution caches from another's.
    id: u64,
    limits: ExprLimits,
}

// The server shares one engine and its compiled expressions between threads.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<ExprEngine>();
    shared::<Expr>();
    shared::<EvalContext>();
};

impl fmt::Debug for ExprEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExprEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for ExprEngine {
    fn default() -> Self {
        ExprEngine::new(ExprLimits::default())
    }
}

impl ExprEngine {
    /// Builds the engine with only the language packages policies need and the given limits.
    pub fn new(limits: ExprLimits) -> ExprEngine {
        let mut engine = Engine::new_raw();
        // Deliberately not CorePackage: its LanguageCorePackage brings `sleep`,
        // which would block a server thread, and DebuggingPackage.
        LogicPackage::new().register_into_engine(&mut engine);
        ArithmeticPackage::new().register_into_engine(&mut engine);
        BasicMathPackage::new().register_into_engine(&mut engine);
        BitFieldPackage::new().register_into_engine(&mut engine);
        BasicStringPackage::new().register_into_engine(&mut engine);
        MoreStringPackage::new().register_into_engine(&mut engine);
        BasicIteratorPackage::new().register_into_engine(&mut engine);
        BasicArrayPackage::new().register_into_engine(&mut engine);
        BasicMapPackage::new().register_into_engine(&mut engine);
        BasicBlobPackage::new().register_into_engine(&mut engine);

        engine.disable_symbol("eval");
        // Catches a misspelt context name when the configuration is loaded, not per packet.
        engine.set_strict_variables(true);

        // Rhai treats 0 as "unlimited"; a limit of 0 in a configuration means "as small as possible".
        engine.set_max_operations(limits.max_operations.max(1));
        engine.set_max_call_levels(limits.max_call_levels);
        engine.set_max_expr_depths(
            limits.max_expr_depth.max(1),
            limits.max_function_expr_depth.max(1),
        );
        engine.set_max_string_size(limits.max_string_size.max(1));
        engine.set_max_array_size(limits.max_array_size.max(1));
        engine.set_max_map_size(limits.max_map_size.max(1));

        engine.on_print(|s| tracing::info!(target: "headend::expr", "print: {s}"));
        engine.on_debug(|s, source, pos| {
            tracing::debug!(target: "headend::expr", source = source.unwrap_or(""), line = ?pos.line(), "{s}")
        });

        ip::register(&mut engine);
        context::register(&mut engine);
        register_helpers(&mut engine);

        ExprEngine {
            api: lint::Api::of(&engine),
            engine,
            limits,
            id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &ExprLimits {
        &self.limits
    }

    /// Compiles `source` once; errors point at the configuration line and say what to fix.
    pub fn compile(&self, source: &str, origin: Origin) -> Result<Expr, ExprError> {
        if source.trim().is_empty() {
            return Err(ExprError::new(
                &origin,
                ExprErrorKind::Syntax,
                Position::NONE,
                "the expression is empty; write a value such as `relay.address + 1`".into(),
            ));
        }
        // The context names are declared (as plain variables, so the optimiser
        // cannot fold placeholder values into the AST) for strict-variables mode.
        let mut scope = Scope::new();
        for name in CONTEXT_NAMES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        match self.engine.compile_with_scope(&scope, source) {
            Ok(mut ast) => {
                if let Err((pos, message)) = self.api.check(&ast) {
                    return Err(ExprError::new(&origin, ExprErrorKind::Syntax, pos, message));
                }
                ast.set_source(origin.what.as_str());
                Ok(Expr(Arc::new(ExprInner {
                    ast,
                    origin,
                    source: source.to_owned(),
                })))
            }
            Err(e) => Err(self.parse_error(&origin, &e)),
        }
    }

    /// The value of `expr` when it is a constant: a literal written as an
    /// expression (`config_file = '"cm-basic.cfg"'`), which reads no context
    /// and calls nothing. A loader keeps such a value as a literal, so no
    /// packet opens a session to compute it again. `None` for anything else
    /// and for `()`.
    pub fn constant(&self, expr: &Expr) -> Option<Literal> {
        let [rhai::Stmt::Expr(e)] = expr.0.ast.statements() else {
            return None;
        };
        if !e.is_constant() {
            return None;
        }
        let v = e.get_literal_value(None)?;
        if v.is_unit() {
            return None;
        }
        self.to_literal(&expr.0.origin, v, 0).ok()
    }

    /// Opens a session for one packet; copies `ctx` once (see [`ExprEngine::session_shared`] to avoid that).
    pub fn session(&self, ctx: &EvalContext) -> Session<'_> {
        self.session_shared(Arc::new(ctx.clone()))
    }

    /// Opens a session for one packet over a context the caller already shares.
    pub fn session_shared(&self, ctx: Arc<EvalContext>) -> Session<'_> {
        let mut scope = Scope::with_capacity(CONTEXT_NAMES.len() + 8);
        context::push_context(&mut scope, &ctx);
        Session {
            engine: self,
            scope,
        }
    }

    fn parse_error(&self, origin: &Origin, e: &ParseError) -> ExprError {
        let (kind, message) = match e.err_type() {
            ParseErrorType::VariableUndefined(name) => (
                ExprErrorKind::Syntax,
                format!(
                    "unknown variable `{name}`: the context variables are {}; \
                     a `fn` cannot see them, pass them as arguments",
                    CONTEXT_NAMES.join(", ")
                ),
            ),
            ParseErrorType::ExprTooDeep => (
                ExprErrorKind::Limit,
                format!(
                    "the expression is nested too deeply (limit {} levels, {} inside a fn); split it with `let`",
                    self.limits.max_expr_depth, self.limits.max_function_expr_depth
                ),
            ),
            ParseErrorType::LiteralTooLarge(what, max) => (
                ExprErrorKind::Limit,
                format!("{what} is larger than the limit of {max}"),
            ),
            other => (ExprErrorKind::Syntax, format!("{other}")),
        };
        ExprError::new(origin, kind, e.position(), message)
    }

    fn runtime_error(&self, origin: &Origin, err: EvalAltResult) -> ExprError {
        // Report the failing statement, not the call site of the `fn` it is in.
        let mut err = err;
        let mut pos = Position::NONE;
        loop {
            if !err.position().is_none() {
                pos = err.position();
            }
            match err {
                EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => err = *inner,
                other => {
                    err = other;
                    break;
                }
            }
        }
        let limits = &self.limits;
        let special = match &err {
            EvalAltResult::ErrorTooManyOperations(_) => Some((
                ExprErrorKind::TooLong,
                format!(
                    "ran too long: stopped after {} operations; look for a loop or recursion that does not end",
                    limits.max_operations
                ),
            )),
            EvalAltResult::ErrorStackOverflow(_) => Some((
                ExprErrorKind::Limit,
                format!(
                    "function calls nested more than {} deep; a recursive fn that does not stop?",
                    limits.max_call_levels
                ),
            )),
            EvalAltResult::ErrorDataTooLarge(what, _) => Some((
                ExprErrorKind::Limit,
                format!(
                    "{what} is too large (limits: strings {} bytes, arrays and blobs {} elements, maps {} entries)",
                    limits.max_string_size, limits.max_array_size, limits.max_map_size
                ),
            )),
            EvalAltResult::ErrorTooManyVariables(_) => Some((
                ExprErrorKind::Limit,
                "too many variables defined".to_owned(),
            )),
            EvalAltResult::ErrorVariableNotFound(name, _) => Some((
                ExprErrorKind::Runtime,
                format!(
                    "unknown variable `{name}`: a `fn` cannot see the context variables ({}); pass them as arguments",
                    CONTEXT_NAMES.join(", ")
                ),
            )),
            EvalAltResult::ErrorFunctionNotFound(sig, _) => Some((
                ExprErrorKind::Runtime,
                format!(
                    "no function {sig}: check the name and the argument types in policies/README.md; \
                     a value that may be absent is (), test it with `!= ()` first"
                ),
            )),
            EvalAltResult::ErrorAssignmentToConstant(name, _) => Some((
                ExprErrorKind::Runtime,
                format!("`{name}` is read-only; copy it with `let` before changing it"),
            )),
            EvalAltResult::ErrorNonPureMethodCallOnConstant(name, _) => Some((
                ExprErrorKind::Runtime,
                format!("`{name}` would change a read-only context value; copy it with `let` first"),
            )),
            EvalAltResult::ErrorDotExpr(text, _) => Some((
                ExprErrorKind::Runtime,
                format!("{text}; policies/README.md lists the properties of each context value"),
            )),
            EvalAltResult::ErrorRuntime(value, _) => Some((
                ExprErrorKind::Runtime,
                match value.clone().into_immutable_string() {
                    Ok(s) => s.to_string(),
                    Err(_) => format!("the expression threw {value}"),
                },
            )),
            _ => None,
        };
        let (kind, message) = special.unwrap_or_else(|| {
            err.clear_position();
            (ExprErrorKind::Runtime, err.to_string())
        });
        ExprError::new(origin, kind, pos, message)
    }

    fn wrong_type(&self, origin: &Origin, message: String) -> ExprError {
        ExprError::new(origin, ExprErrorKind::WrongType, Position::NONE, message)
    }

    fn describe(&self, v: &Dynamic) -> String {
        if v.is_unit() {
            "no value (`()`)".into()
        } else if v.is_bool() {
            "true/false".into()
        } else if v.is_int() {
            "a number".into()
        } else if v.is_float() {
            "a number with a fraction".into()
        } else if v.is_string() {
            "a string".into()
        } else if v.is_char() {
            "a character".into()
        } else if v.is_array() {
            "an array".into()
        } else if v.is_blob() {
            "a blob".into()
        } else if v.is_map() {
            "an object map".into()
        } else {
            format!(
                "a value of type {}",
                self.engine.map_type_name(v.type_name())
            )
        }
    }

    fn to_literal(&self, origin: &Origin, v: Dynamic, depth: usize) -> Result<Literal, ExprError> {
        const MAX_NESTING: usize = 4;
        let v = v.flatten();
        if v.is_string() {
            return match v.into_immutable_string() {
                Ok(s) => Ok(Literal::Str(s.to_string())),
                Err(t) => Err(self.wrong_type(origin, format!("unreadable string ({t})"))),
            };
        }
        if v.is_array() {
            if depth >= MAX_NESTING {
                return Err(self.wrong_type(
                    origin,
                    format!(
                        "arrays nest more than {MAX_NESTING} deep; no option value has that shape"
                    ),
                ));
            }
            let items = v.into_array().unwrap_or_default();
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                if item.is_unit() {
                    return Err(self.wrong_type(
                        origin,
                        format!("element {i} of the array has no value (`()`); leave it out of the array"),
                    ));
                }
                out.push(self.to_literal(origin, item, depth + 1)?);
            }
            return Ok(Literal::List(out));
        }
        if v.is_blob() {
            return Ok(Literal::Bytes(v.into_blob().unwrap_or_default()));
        }
        if let Ok(b) = v.as_bool() {
            return Ok(Literal::Bool(b));
        }
        if let Ok(i) = v.as_int() {
            return Ok(Literal::Int(i128::from(i)));
        }
        if let Ok(c) = v.as_char() {
            return Ok(Literal::Str(c.to_string()));
        }
        if let Some(Ip(a)) = v.clone().try_cast::<Ip>() {
            return Ok(Literal::Ip(a));
        }
        Err(self.wrong_type(
            origin,
            format!(
                "the expression returned {}; an option value must be a string, a number, true/false, \
                 an ip(…), a blob or an array of these (or `()` to leave the option out)",
                self.describe(&v)
            ),
        ))
    }
}

/// The evaluation scope of one packet: the context constants, built once and reused by every expression.
pub struct Session<'e> {
    engine: &'e ExprEngine,
    scope: Scope<'static>,
}

impl fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session<'_> {
    /// Evaluates `expr` against this packet's context.
    pub fn eval(&mut self, expr: &Expr) -> Result<Dynamic, ExprError> {
        let ast = &expr.0.ast;
        let result = if ast.has_functions() {
            // Its own `fn`s take part in resolution: a cache shared with
            // other scripts could bind a call to the wrong one.
            self.engine
                .engine
                .eval_ast_with_scope::<Dynamic>(&mut self.scope, ast)
        } else {
            self.eval_cached(ast)
        };
        // Variables a script declared must not be visible to the next one.
        self.scope.rewind(CONTEXT_NAMES.len());
        result
            .map(Dynamic::flatten)
            .map_err(|e| self.engine.runtime_error(&expr.0.origin, *e))
    }

    /// Runs a script that defines no `fn` with this thread's function
    /// resolution cache for this engine. `eval_ast_with_scope` starts every
    /// evaluation with an empty cache, so each call in a script looked its
    /// function up through every package and the `Dynamic`-argument
    /// permutations again: about 2k instructions a call, a third of a typical
    /// policy expression. Without script functions the resolution depends
    /// only on the engine, whose modules never change after it is built. The
    /// operation count and call depth live in the global state, which is new
    /// for every evaluation, so the limits hold per evaluation as before.
    fn eval_cached(&mut self, ast: &AST) -> Result<Dynamic, Box<EvalAltResult>> {
        let engine = &self.engine.engine;
        let run = |caches: &mut Caches, scope: &mut Scope<'static>| {
            let mut global = engine.new_global_runtime_state();
            #[allow(deprecated)] // the one entry point that takes caches; pinned by Cargo.lock
            engine.eval_statements_raw(&mut global, caches, scope, ast.statements())
        };
        RESOLUTION_CACHE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut held) => {
                let (id, caches) = &mut *held;
                if *id != self.engine.id || caches.fn_resolution_caches_len() > 1 {
                    *id = self.engine.id;
                    *caches = Caches::new();
                }
                let result = run(caches, &mut self.scope);
                if caches.fn_resolution_cache_mut().dict.len() > MAX_CACHED_RESOLUTIONS {
                    caches.fn_resolution_cache_mut().clear();
                }
                result
            }
            // Not expected (no evaluation starts another), but never a panic.
            Err(_) => run(&mut Caches::new(), &mut self.scope),
        })
    }

    /// Evaluates a condition (pool Allow/Deny, vendor class `match`): the result must be `true` or `false`.
    pub fn eval_bool(&mut self, expr: &Expr) -> Result<bool, ExprError> {
        let v = self.eval(expr)?;
        v.as_bool().map_err(|_| {
            let hint = if v.is_unit() {
                " (an `if` without `else`?)"
            } else {
                ""
            };
            self.engine.wrong_type(
                &expr.0.origin,
                format!(
                    "the condition returned {}{hint}; it must return true or false",
                    self.engine.describe(&v)
                ),
            )
        })
    }

    /// Evaluates a list of names (the auto-provisioning domain list): an array of strings, one string, or `()` for none.
    pub fn eval_string_list(&mut self, expr: &Expr) -> Result<Vec<String>, ExprError> {
        let v = self.eval(expr)?;
        if v.is_unit() {
            return Ok(Vec::new());
        }
        if v.is_string() {
            return Ok(v
                .into_immutable_string()
                .map(|s| vec![s.to_string()])
                .unwrap_or_default());
        }
        if !v.is_array() {
            return Err(self.engine.wrong_type(
                &expr.0.origin,
                format!(
                    "the expression returned {}; it must return an array of strings such as [\"cpe\"]",
                    self.engine.describe(&v)
                ),
            ));
        }
        let items = v.into_array().unwrap_or_default();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let item = item.flatten();
            if !item.is_string() {
                return Err(self.engine.wrong_type(
                    &expr.0.origin,
                    format!(
                        "element {i} of the returned array is {}; every element must be a string",
                        self.engine.describe(&item)
                    ),
                ));
            }
            if let Ok(s) = item.into_immutable_string() {
                out.push(s.to_string());
            }
        }
        Ok(out)
    }

    /// Evaluates an option value: `Ok(None)` when the script returns `()`, meaning "leave the option out".
    pub fn eval_literal(&mut self, expr: &Expr) -> Result<Option<Literal>, ExprError> {
        let v = self.eval(expr)?;
        if v.is_unit() {
            return Ok(None);
        }
        self.engine.to_literal(&expr.0.origin, v, 0).map(Some)
    }
}

/// Registers the byte-formatting helpers and the string functions that return their result.
fn register_helpers(engine: &mut Engine) {
    engine.register_fn("hex", |b: Blob| -> ImmutableString {
        context::hex(&b).into()
    });
    engine.register_fn("mac", |b: Blob| -> ImmutableString {
        context::mac(&b).into()
    });
    // Absent values propagate: `hex(packet.option(82))` leaves the option out.
    engine.register_fn("hex", |_: ()| Dynamic::UNIT);
    engine.register_fn("mac", |_: ()| Dynamic::UNIT);

    // Rhai's own `replace` and `trim` change a variable in place and return
    // `()`, so `"cm-" + device.mac.replace(":", "")` would quietly drop the
    // MAC. These keep the in-place change and also return the new string.
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |s: &mut ImmutableString, from: &str, to: &str| -> ImmutableString {
                *s = s.replace(from, to).into();
                s.clone()
            },
        );
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |s: &mut ImmutableString, from: &str, to: char| -> ImmutableString {
                *s = s.replace(from, &to.to_string()).into();
                s.clone()
            },
        );
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |s: &mut ImmutableString, from: char, to: &str| -> ImmutableString {
                *s = s.replace(from, to).into();
                s.clone()
            },
        );
    FuncRegistration::new("replace")
        .with_purity(false)
        .register_into_engine(
            engine,
            |s: &mut ImmutableString, from: char, to: char| -> ImmutableString {
                *s = s.replace(from, &to.to_string()).into();
                s.clone()
            },
        );
    FuncRegistration::new("trim")
        .with_purity(false)
        .register_into_engine(engine, |s: &mut ImmutableString| -> ImmutableString {
            *s = s.trim().into();
            s.clone()
        });
}

#[cfg(test)]
mod tests;
