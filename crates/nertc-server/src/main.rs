//! `nertc-server`: run the room server, or mint a join token.
//!
//! ```text
//! nertc-server [--config server.toml] [--listen 127.0.0.1:8480]
//! nertc-server token --app-key K --channel C --uid U [--ttl 3600] [--secret S | --config F]
//! ```
//! On start it prints `nertc-server listening on http://ADDR` on stdout (tests parse it).

use clap::{Parser, Subcommand};
use nertc_server::ServerConfig;

#[derive(Parser)]
#[command(name = "nertc-server", version, about = "nertc room server: signaling, SFU and token auth")]
struct Cli {
    /// TOML config file (see crates/nertc-server/server.sample.toml).
    #[arg(long, global = true)]
    config: Option<std::path::PathBuf>,
    /// Listen address, overriding the config's `listen`.
    #[arg(long)]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a join token (JWT HS256) for an app.
    Token {
        #[arg(long)]
        app_key: String,
        #[arg(long)]
        channel: String,
        #[arg(long)]
        uid: u64,
        /// Seconds the token stays valid.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The app secret; read from --config's [apps.KEY] when omitted.
        #[arg(long)]
        secret: Option<String>,
    },
}

fn load_config(path: Option<&std::path::Path>) -> Result<ServerConfig, String> {
    match path {
        None => Ok(ServerConfig::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            ServerConfig::from_toml(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

/// What `token` refuses to mint because no server would accept it (the channel name is checked
/// by the protocol's own rule).
fn check_token_args(app_key: &str, uid: u64, ttl: u64) -> Result<(), String> {
    if app_key.is_empty() {
        return Err("--app-key must not be empty".into());
    }
    if !nertc_protocol::validate::uid(uid) {
        return Err(format!("--uid {uid} is not a valid uid: joins with it are refused (invalid_uid); use a non-zero integer"));
    }
    if ttl == 0 {
        return Err("--ttl 0 makes a token that is already expired; give the validity in seconds".into());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nertc-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(Command::Token { app_key, channel, uid, ttl, secret }) = cli.command {
        if let Err(e) = check_token_args(&app_key, uid, ttl) {
            eprintln!("nertc-server token: {e}");
            return std::process::ExitCode::from(2);
        }
        let secret = secret.or_else(|| config.apps.get(&app_key).map(|a| a.secret.clone()));
        let Some(secret) = secret else {
            eprintln!("nertc-server: no secret for app {app_key:?}: pass --secret or --config");
            return std::process::ExitCode::from(2);
        };
        if let Err(e) = nertc_protocol::validate::channel_name(&channel) {
            eprintln!("nertc-server token: --channel {channel:?}: {e}");
            return std::process::ExitCode::from(2);
        }
        println!("{}", nertc_server::mint_token(&app_key, &secret, &channel, uid, nertc_server::now_secs(), ttl));
        return std::process::ExitCode::SUCCESS;
    }
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,webrtc=warn,rtc=warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nertc-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match nertc_server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("nertc-server: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        println!("nertc-server listening on http://{}", server.addr);
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        std::process::ExitCode::SUCCESS
    })
}
