//! `chat-bench <scenario> --url ws://HOST:PORT/ws [--url ...] [--json]`: wires the CLI to the
//! engine (or to the `support` scenario) and prints the report (the JSON line, when asked, comes
//! last).

use clap::Parser;
use loadtest::cli::{Cli, Job};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (job, probe, json) = Cli::parse().job()?;
    let (table, line) = match job {
        Job::Rooms(plan) => {
            let report = loadtest::run(&plan, &probe).await?;
            (report.table(), report.json())
        }
        Job::Support(plan) => {
            let report = loadtest::support::run(&plan, &probe).await?;
            (report.table(), report.json())
        }
    };
    print!("{table}");
    if json {
        println!("{line}");
    }
    Ok(())
}
