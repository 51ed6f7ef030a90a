//! `csbs-sim`: the CSBS + IAM simulator as a program.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use csbs_deleter::sim::{SimConfig, Simulator};

/// A CSBS + IAM simulator on loopback (see README, "The simulator").
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed the demo project with backups.
    #[arg(long)]
    seed_demo: bool,
    /// Shortest deletion, in milliseconds.
    #[arg(long, default_value_t = 500)]
    delete_ms_min: u64,
    /// Longest deletion, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    delete_ms_max: u64,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 86400)]
    token_lifetime_secs: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = SimConfig {
        delete_duration: (
            Duration::from_millis(args.delete_ms_min),
            Duration::from_millis(args.delete_ms_max.max(args.delete_ms_min)),
        ),
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        ..SimConfig::default()
    };
    let sim = Simulator::new(config);
    if args.seed_demo {
        sim.seed_demo();
    }
    let running = sim.serve(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    // The first line is machine-readable: scripts wait for it to learn the port.
    println!("csbs-sim listening on {}", running.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
