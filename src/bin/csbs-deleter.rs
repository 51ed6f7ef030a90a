//! `csbs-deleter`: the operator CLI (src/cli/).

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = csbs_deleter::cli::Cli::parse();
    match csbs_deleter::cli::run(cli).await {
        Ok(out) => println!("{out}"),
        Err(f) => {
            eprintln!("csbs-deleter: {}", f.message.replace('\n', " "));
            std::process::exit(f.code);
        }
    }
}
