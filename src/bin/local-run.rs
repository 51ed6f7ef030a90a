//! `local-run`: the whole workflow on embedded defaults — no AWS account, no Python.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Parser;
use csbs_deleter::local::{LocalOptions, run};

/// Runs submit and poll end to end against the in-process CSBS simulator, printing each event.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// After the demo, keep serving the HTTP API on 127.0.0.1:PORT (0 = any free port).
    #[arg(long, value_name = "PORT")]
    serve: Option<u16>,
    /// Shortest simulated deletion, in milliseconds (real CSBS: minutes).
    #[arg(long, default_value_t = 1500)]
    delete_ms_min: u64,
    /// Longest simulated deletion, in milliseconds.
    #[arg(long, default_value_t = 6000)]
    delete_ms_max: u64,
    /// Plain output, no progress bars.
    #[arg(long)]
    no_progress: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let opts = LocalOptions {
        delete_duration: (
            Duration::from_millis(args.delete_ms_min),
            Duration::from_millis(args.delete_ms_max.max(args.delete_ms_min)),
        ),
        serve: args.serve,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        ..LocalOptions::default()
    };
    let summary = run(opts).await?;
    println!("\nsummary after {:.1} s:", summary.elapsed.as_secs_f64());
    for (outcome, n) in &summary.by_outcome {
        println!("  {outcome:<10} {n}");
    }
    println!(
        "  poll: {} checks in {} passes, {} cloud calls",
        summary.poll.checked, summary.poll.passes, summary.poll.cloud_calls
    );
    Ok(())
}
