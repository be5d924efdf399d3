//! The `operator` binary: flags, client, listener, signals. Everything else is in the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use operator::bundle::{DEFAULT_OPERATOR_IMAGE, bundle_yaml, crd_yaml};
use operator::{Settings, run};

#[derive(Parser, Debug)]
#[command(
    name = "operator",
    version,
    about = "Kubernetes operator for ChatApp resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller (the default).
    Run(RunArgs),
    /// Print the ChatApp CRD as YAML.
    Crd,
    /// Print the install bundle (CRD, RBAC, operator) as YAML.
    Bundle {
        /// Operator image the bundle deploys.
        #[arg(long, default_value = DEFAULT_OPERATOR_IMAGE)]
        operator_image: String,
        /// Chat-server image of the default ChatApp (the CRD default when unset).
        #[arg(long)]
        chat_image: Option<String>,
    },
    /// Print the objects the operator would create for a ChatApp (validated, nothing applied).
    Render {
        /// The ChatApp YAML file; `-` reads standard input.
        #[arg(short = 'f', long = "filename")]
        file: String,
    },
}

#[derive(Parser, Debug)]
struct RunArgs {
    /// Namespace whose ChatApps are reconciled (in a pod: its own, from the downward API);
    /// the kubeconfig's namespace when unset.
    #[arg(long, env = "CHATAPP_OPERATOR_NAMESPACE")]
    namespace: Option<String>,
    /// Create the ChatApp `default` (NodePort 30222) in that namespace when it does not exist.
    /// `--ensure-default` alone means true; `--ensure-default=false` turns it off.
    #[arg(
        long,
        env = "CHATAPP_ENSURE_DEFAULT",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    ensure_default: bool,
    /// Chat-server image of the default ChatApp.
    #[arg(long, env = "CHATAPP_DEFAULT_IMAGE")]
    default_image: Option<String>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "CHATAPP_OPERATOR_LISTEN", default_value = "0.0.0.0:8081")]
    listen: String,
    /// ChatApps reconciled at once.
    #[arg(long, env = "CHATAPP_OPERATOR_CONCURRENCY", default_value_t = 4)]
    concurrency: u16,
    /// Reconcile only while holding the Lease `chatapp-operator` in the namespace, so several
    /// replicas can run with one active (the bundle turns it on). `--leader-elect` alone means
    /// true. Losing the Lease makes the process exit non-zero.
    #[arg(
        long,
        env = "CHATAPP_LEADER_ELECT",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    leader_elect: bool,
    /// Name of this pod, reported in events and used as the leader-election identity.
    #[arg(long, env = "CHATAPP_OPERATOR_POD")]
    pod_name: Option<String>,
    /// Log format: json or pretty.
    #[arg(long, env = "CHATAPP_LOG_FORMAT", default_value = "json")]
    log_format: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd) => print!("{}", crd_yaml()),
        Some(Command::Bundle {
            operator_image,
            chat_image,
        }) => {
            print!("{}", bundle_yaml(&operator_image, chat_image.as_deref()));
        }
        Some(Command::Render { file }) => {
            let yaml = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            print!(
                "{}",
                operator::render::render(&yaml).map_err(anyhow::Error::msg)?
            );
        }
        Some(Command::Run(args)) => run_operator(args).await?,
        None => run_operator(RunArgs::parse_from(["operator"])).await?,
    }
    Ok(())
}

async fn run_operator(args: RunArgs) -> anyhow::Result<()> {
    init_logs(&args.log_format);
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes")?;
    let namespace = args
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let settings = Settings {
        namespace,
        ensure_default: args.ensure_default,
        default_image: args.default_image,
        concurrency: args.concurrency.max(1),
        instance: args.pod_name,
        leader_elect: args.leader_elect,
    };
    run(settings, client, listener, shutdown_signal()).await?;
    Ok(())
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "pretty" {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            Some(Command::Run(args)) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ensure_default_takes_an_optional_boolean() {
        assert!(run_args(&["operator", "run", "--ensure-default"]).ensure_default);
        assert!(run_args(&["operator", "run", "--ensure-default=true"]).ensure_default);
        assert!(!run_args(&["operator", "run", "--ensure-default=false"]).ensure_default);
        let args = run_args(&["operator", "run", "--namespace", "chat"]);
        assert_eq!(args.namespace.as_deref(), Some("chat"));
        assert!(Cli::try_parse_from(["operator", "run", "--ensure-default=maybe"]).is_err());
        assert!(run_args(&["operator", "run", "--leader-elect"]).leader_elect);
        assert!(!run_args(&["operator", "run", "--leader-elect=false"]).leader_elect);
    }
}
