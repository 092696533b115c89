//! `headend-sim`: the boot-storm simulator (see [`headend_sim::cli`]).

use std::process::ExitCode;

use clap::Parser;

/// Simulate a boot storm of DOCSIS cable modems, PacketCable 2.0 E-UEs and
/// CPE behind virtual CMTS relays, against any DHCP/TFTP/SNMP provisioning
/// system, checking every reply against the specs.
///
/// Exit status: 0 when every device provisioned with no spec violation,
/// 1 otherwise, 2 on a setup error.
#[derive(Parser, Debug)]
#[command(name = "headend-sim", version)]
struct Cli {
    #[command(flatten)]
    args: headend_sim::cli::Args,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match headend_sim::cli::run(&cli.args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("headend-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}
