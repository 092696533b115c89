//! The web console (issue 18): a single-page front end served by headend
//! itself at `/console/`, built only on the `/api/v1` calls (no second path
//! into the server). Its three files (`console/index.html`, `app.js`,
//! `app.css`) are compiled into the binary, so it works without any CDN or
//! files installed beside the binary. Served with a strict Content Security
//! Policy: scripts and styles from this origin only, no inline script, no
//! framing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// The Content-Security-Policy every console file is served with.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Compiled in: a new binary is a new console; revalidate on each load.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `/` sends a browser to the console.
pub async fn root() -> Redirect {
    Redirect::to("/console/")
}

/// The console's page.
pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

/// The console's script.
pub async fn script() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

/// The console's style sheet.
pub async fn style() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}
