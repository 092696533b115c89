//! The simulator's command line, shared by the `headend-sim` binary and
//! `headend simulate`: runs a boot storm of simulated cable modems, E-UEs
//! and CPE against a provisioning system and prints what happened: devices
//! provisioned, per-step latency, failures and spec violations.

use std::io::IsTerminal;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::hostile::Hostile;
use crate::net::{Bind, Net};
use crate::plan::Plan;
use crate::run::{Counts, Schedule, Sim};
use anyhow::Context;

/// The simulator's options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// DOCSIS cable modems (CM1-CM4, ToD, config file).
    #[arg(long, default_value_t = 0)]
    cm: u32,
    /// PacketCable 2.0 E-UEs (eCM steps, then eUE over DHCPv4 or DHCPv6 as
    /// Table 4 says, then Basic or Hybrid as the server says).
    #[arg(long, default_value_t = 0)]
    eue: u32,
    /// CPE, spread over the modems (each starts when its modem is online);
    /// standalone when there are no modems.
    #[arg(long, default_value_t = 0)]
    cpe: u32,
    /// Start devices at this many per second (default: all at once).
    #[arg(long, conflicts_with = "ramp")]
    rate: Option<f64>,
    /// Start devices evenly over this many seconds.
    #[arg(long)]
    ramp: Option<f64>,
    /// Settings of the lab configuration (examples/lab/headend.toml):
    /// servers on 127.0.0.1:6767 / [::1]:6547, relay 127.0.0.2, service
    /// ports 6969/6037/6514/6162/6161, lab communities and CMTS secret.
    #[arg(long)]
    lab: bool,
    /// DHCPv4 server.
    #[arg(long)]
    server4: Option<SocketAddr>,
    /// DHCPv6 server.
    #[arg(long)]
    server6: Option<SocketAddr>,
    /// Virtual CMTS relays (giaddr), repeatable; default 127.0.0.2.
    #[arg(long = "relay")]
    relays: Vec<Ipv4Addr>,
    /// This many virtual CMTS relays from 127.0.0.2 up (instead of --relay).
    #[arg(long)]
    relays_count: Option<u16>,
    /// Local port of the relay sockets: 0 (ephemeral) adds RFC 8357 relay
    /// source port options so that servers answer it; 67 is what a CMTS uses.
    #[arg(long, default_value_t = 0)]
    relay_port: u16,
    /// DHCPv6 relay link-address.
    #[arg(long, default_value = "2001:db8:100::1")]
    link6: Ipv6Addr,
    /// Local address of the DHCPv6 relay socket.
    #[arg(long, default_value = "[::1]:0")]
    relay6_bind: SocketAddr,
    /// Cable modems and eCMs provision over DHCPv6 (Table 3): TFTP and ToD
    /// over IPv6, the eUE then as the REPLY's IP_PREF says.
    #[arg(long)]
    ecm_v6: bool,
    /// CPE provision over DHCPv6 (SOLICIT/ADVERTISE/REQUEST/REPLY, IA_NA).
    #[arg(long)]
    cpe_v6: bool,
    /// Stop after DHCP (no ToD, files, SNMP, syslog): for DHCP-only servers.
    #[arg(long)]
    dhcp_only: bool,
    /// Keep the leases: renew at T1 until --duration ends.
    #[arg(long)]
    renew: bool,
    /// Stop after this many seconds at the latest.
    #[arg(long, default_value_t = 120.0)]
    duration: f64,
    /// TFTP port.
    #[arg(long)]
    tftp_port: Option<u16>,
    /// RFC 868 time port.
    #[arg(long)]
    tod_port: Option<u16>,
    /// Syslog port.
    #[arg(long)]
    syslog_port: Option<u16>,
    /// Provisioning server SNMP port (INFORMs).
    #[arg(long)]
    snmp_port: Option<u16>,
    /// The eUE agent's SNMP port (SETs).
    #[arg(long)]
    agent_port: Option<u16>,
    /// Community of the eUE's INFORMs.
    #[arg(long)]
    inform_community: Option<String>,
    /// Community the eUE agent requires in SETs.
    #[arg(long)]
    agent_community: Option<String>,
    /// CMTS shared secret, to verify the CMTS MIC of CM files.
    #[arg(long)]
    cmts_secret: Option<String>,
    /// TFTP blksize asked for.
    #[arg(long, default_value_t = 1448)]
    blksize: u16,
    /// First DHCPv4 retransmission timeout in seconds (RFC 2131: 4).
    #[arg(long, default_value_t = 4.0)]
    dhcp_timeout: f64,
    /// DHCPv4 and DHCPv6 transmissions of one message before a step fails.
    #[arg(long, default_value_t = 5)]
    dhcp_attempts: u32,
    /// Number the devices' MACs from here (fresh clients for repeated runs
    /// against one server).
    #[arg(long, default_value_t = 0)]
    mac_offset: u64,
    /// Random seed (jitter, ids): the same seed repeats the storm.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Draw completions over time and per-step latency into this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print progress every second even when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
    /// Mix hostile traffic into the storm (comma-separated): mac-flood,
    /// decline, inform, tftp-other, malformed. The report counts what each
    /// sent and what answers it got; the legitimate devices must still finish.
    #[arg(long, value_delimiter = ',')]
    hostile: Vec<crate::hostile::Mode>,
    /// Hostile packets a second, all modes together.
    #[arg(long, default_value_t = 1000.0)]
    hostile_rate: f64,
    /// Unleased addresses the hostile traffic claims or sends from
    /// (tftp-other needs them local, like the devices').
    #[arg(long, default_value = "10.250.0.0/16")]
    hostile_net: String,
    /// Socket buffer size (bytes).
    #[arg(long, default_value_t = 16 << 20)]
    buffer: usize,
}

/// `  12.0 s [########------------]  40 %  provisioned 4000 / 10000  failed 0  violations 0`
fn progress_line(secs: f64, done: u64, failed: u64, total: u64, violations: u64) -> String {
    const WIDTH: u64 = 30;
    let finished = (done + failed).min(total);
    let filled = finished * WIDTH / total.max(1);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '-' })
        .collect();
    format!(
        "{secs:7.1} s [{bar}] {:3} %  provisioned {done} / {total}  failed {failed}  violations {violations}",
        finished * 100 / total.max(1)
    )
}

/// `A.B.C.D/LEN` → (base, number of addresses).
fn parse_net(s: &str) -> anyhow::Result<(Ipv4Addr, u32)> {
    let (a, l) = s
        .split_once('/')
        .context("--hostile-net: expected A.B.C.D/LEN")?;
    let a: Ipv4Addr = a.parse().context("--hostile-net: bad address")?;
    let l: u32 = l.parse().context("--hostile-net: bad length")?;
    anyhow::ensure!(
        (8..=32).contains(&l),
        "--hostile-net: length between 8 and 32"
    );
    Ok((a, 1u32 << (32 - l)))
}

fn plan_of(a: &Args) -> Plan {
    let mut p = Plan::default();
    if a.lab {
        p.server4 = "127.0.0.1:6767".parse().unwrap_or(p.server4);
        p.server6 = "[::1]:6547".parse().unwrap_or(p.server6);
        p.ports.tftp = 6969;
        p.ports.tod = 6037;
        p.ports.syslog = 6514;
        p.ports.snmp = 6162;
        p.ports.agent = 6161;
        p.inform_community = "lab-inform".into();
        p.agent_community = Some("lab-write".into());
        p.cmts_secret = Some(b"lab-cmts-secret".to_vec());
    }
    if let Some(s) = a.server4 {
        p.server4 = s;
    }
    if let Some(s) = a.server6 {
        p.server6 = s;
    }
    if let Some(n) = a.relays_count {
        p.relays4 = (0..n.max(1))
            .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + u32::from(i)))
            .collect();
    } else if !a.relays.is_empty() {
        p.relays4 = a.relays.clone();
    }
    p.links6 = vec![a.link6];
    p.relay_source_port = a.relay_port == 0;
    p.full = !a.dhcp_only;
    p.ecm_v6 = a.ecm_v6;
    p.mac_offset = a.mac_offset;
    p.cpe_v6 = a.cpe_v6;
    p.renew = a.renew;
    for (port, v) in [
        (&mut p.ports.tftp, a.tftp_port),
        (&mut p.ports.tod, a.tod_port),
        (&mut p.ports.syslog, a.syslog_port),
        (&mut p.ports.snmp, a.snmp_port),
        (&mut p.ports.agent, a.agent_port),
    ] {
        if let Some(v) = v {
            *port = v;
        }
    }
    if let Some(c) = &a.inform_community {
        p.inform_community = c.clone();
    }
    if let Some(c) = &a.agent_community {
        p.agent_community = Some(c.clone());
    }
    if let Some(s) = &a.cmts_secret {
        p.cmts_secret = Some(s.as_bytes().to_vec());
    }
    p.blksize = a.blksize;
    p.retry4.initial = Duration::from_secs_f64(a.dhcp_timeout.max(0.01));
    p.retry4.jitter = p.retry4.initial / 4;
    p.retry4.attempts = a.dhcp_attempts.max(1);
    p.retry6.attempts = a.dhcp_attempts.max(1);
    p
}

/// Runs a storm; `Ok(true)` when every device provisioned without a spec
/// violation.
pub fn run(a: &Args) -> anyhow::Result<bool> {
    if a.cm + a.eue + a.cpe == 0 {
        anyhow::bail!("nothing to simulate: give --cm, --eue and/or --cpe");
    }
    let plan = plan_of(a);
    let schedule = match (a.rate, a.ramp) {
        (Some(r), _) => Schedule::Rate(r),
        (_, Some(s)) => Schedule::Ramp(Duration::from_secs_f64(s.max(0.0))),
        _ => Schedule::All,
    };
    let counts = Counts {
        cm: a.cm,
        eue: a.eue,
        cpe: a.cpe,
    };
    let full = plan.full;
    let t0 = Instant::now();
    let mut sim = Sim::new(plan, counts, schedule, a.seed, t0);
    if !a.hostile.is_empty() {
        let net = parse_net(&a.hostile_net)?;
        sim = sim.with_hostile(Hostile::new(
            a.hostile.clone(),
            a.hostile_rate,
            net,
            a.seed,
            t0,
        ));
    }
    let bind = Bind {
        relay_port: a.relay_port,
        relay6: a.relay6_bind,
        host: (full && (a.cm + a.eue) > 0) || a.hostile.contains(&crate::hostile::Mode::TftpOther),
        host6: full && (a.eue > 0 || (a.ecm_v6 && a.cm > 0)),
        buffer: a.buffer,
    };
    let mut net = Net::open(&sim, &bind).context("opening the sockets")?;
    let tty = std::io::stderr().is_terminal();
    let show = a.progress || tty;
    let until = t0 + Duration::from_secs_f64(a.duration.max(0.0));
    let end = net.run(&mut sim, until, a.renew, |sim, now| {
        if show {
            let st = sim.stats();
            let line = progress_line(
                now.duration_since(t0).as_secs_f64(),
                st.completed(),
                st.failed(),
                st.total(),
                sim.violations().total(),
            );
            // On a terminal the bar redraws in place; in a log, one line a second.
            if tty {
                eprint!("\r{line}");
            } else {
                eprintln!("{line}");
            }
        }
    })?;
    if show && tty {
        eprintln!();
    }
    sim.stats_mut().local_drops = net.local_drops();
    let report = sim.report(end);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = &a.plot {
        std::fs::write(path, report.svg())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let all = report
        .devices
        .iter()
        .all(|d| d.count.completed == d.count.total);
    Ok(all && report.violation_total() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_and_networks() {
        let l = progress_line(1.5, 40, 10, 100, 2);
        assert!(l.contains("[###############---------------]  50 %"), "{l}");
        assert!(
            l.ends_with("provisioned 40 / 100  failed 10  violations 2"),
            "{l}"
        );
        assert_eq!(
            parse_net("10.250.0.0/16").ok(),
            Some((Ipv4Addr::new(10, 250, 0, 0), 65536))
        );
        assert!(parse_net("10.250.0.0").is_err());
        assert!(parse_net("10.250.0.0/4").is_err());
    }
}
