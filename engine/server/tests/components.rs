//! The runtime drives its protocol servers as a list of components: one
//! start binds every configured listener, and a reload is refused with
//! each component's restart-only changes, in component order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

const SERVERS: &str = r#"
[dhcpv6]
listen = ["[::1]:0"]

[tftp]
listen = ["127.0.0.1:0"]
root = "."

[http]
listen = ["127.0.0.1:0"]
"#;

#[test]
fn a_reload_is_refused_with_every_components_restart_only_change() {
    let config = format!("{BASE}{SERVERS}");
    let bed = bed(&config);
    // Nothing restart-only changed: accepted.
    bed.rewrite(&config.replace("offer_hold = 30", "offer_hold = 40"));
    assert_eq!(bed.server.reload().unwrap(), 2);
    let moved = config
        .replace("store = \"state\"", "store = \"elsewhere\"")
        .replace(
            "listen = [\"127.0.0.1:0\"]\noffer_hold",
            "listen = [\"127.0.0.1:1\"]\noffer_hold",
        )
        .replace("[::1]:0", "[::1]:1")
        .replace(
            "listen = [\"127.0.0.1:0\"]\nroot",
            "listen = [\"127.0.0.1:2\"]\nroot",
        );
    bed.rewrite(&moved);
    let err = bed.server.reload().unwrap_err();
    let messages: Vec<&str> = err.0.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 4, "{err}");
    assert!(
        messages[0].starts_with("the store path cannot change"),
        "{err}"
    );
    assert!(messages[1].starts_with("DHCPv4 listener"), "{err}");
    assert!(messages[2].starts_with("DHCPv6 listener"), "{err}");
    assert!(messages[3].starts_with("TFTP and HTTP listener"), "{err}");
    assert!(err.0.iter().all(|e| e.fix.starts_with("restart headend")));
    assert_eq!(bed.server.snapshot().generation, 2, "the running one stays");
}

#[test]
fn run_starts_every_component_and_stops() {
    let bed = bed(&format!("{BASE}{SERVERS}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel::<Vec<SocketAddr>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = bed.server;
    let run = rt.spawn(
        server.run(move |bound| tx.send(bound.to_vec()).unwrap(), async move {
            let _ = stop_rx.await;
        }),
    );
    let bound = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // DHCPv4, DHCPv6, TFTP, HTTP, in component order, ephemeral ports resolved.
    assert_eq!(bound.len(), 4, "{bound:?}");
    assert!(bound.iter().all(|a| a.port() != 0), "{bound:?}");
    assert!(bound[0].is_ipv4() && bound[1].is_ipv6(), "{bound:?}");
    let http = std::net::TcpStream::connect(bound[3]);
    assert!(http.is_ok(), "HTTP listener accepts: {http:?}");
    stop_tx.send(()).unwrap();
    rt.block_on(run).unwrap().unwrap();
}
