//! `chat-bench <scenario> --url ws://HOST:PORT/ws [--url ...] [--json]`: wires the CLI to the
//! engine and prints the report (the JSON line, when asked, comes last).

use clap::Parser;
use loadtest::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (plan, probe, json) = Cli::parse().plan()?;
    let report = loadtest::run(&plan, &probe).await?;
    print!("{}", report.table());
    if json {
        println!("{}", report.json());
    }
    Ok(())
}
