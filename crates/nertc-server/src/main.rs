//! `nertc-server`: run the room server, or mint a join token.
//!
//! ```text
//! nertc-server [--config server.toml] [--listen 127.0.0.1:8480]
//! nertc-server token --app-key K --channel C --uid U [--ttl 3600] [--secret S | --config F]
//! nertc-server [--redis-url redis://H:P] [--node-id ID] [--public-url ws://H:P]   (cluster mode)
//! nertc-server cluster status [--redis-url U | --config F]
//! nertc-server drain --node-id ID [--redis-url U | --config F]
//! ```
//! On start it prints `nertc-server listening on http://ADDR` on stdout (tests parse it), and
//! in cluster mode `nertc-server node ID` after it.
//!
//! Signals: SIGINT shuts down at once (sessions are told `server_shutdown`). In cluster mode
//! SIGTERM drains (no new rooms, up to `cluster.drain_timeout_ms` for the rooms to empty, then
//! they move to other nodes) and exits, and so does `nertc-server drain` for that node; a single
//! node leaves SIGTERM at its default.

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
    /// Cluster mode: the Redis shared by the nodes (sets `[cluster] redis_url`).
    #[arg(long, global = true)]
    redis_url: Option<String>,
    /// Cluster mode: this node's id (sets `[cluster] node_id`; default random).
    #[arg(long, global = true)]
    node_id: Option<String>,
    /// Cluster mode: the ws://host:port clients reach this node at (sets `[cluster] public_url`).
    #[arg(long)]
    public_url: Option<String>,
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
    /// Cluster tools (reads Redis: --redis-url or --config's [cluster]).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Ask the cluster node --node-id to drain and exit (through Redis).
    Drain,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Print the live nodes, their load and their rooms.
    Status,
}

/// Applies the cluster flags over the config's `[cluster]` (any flag creates the table).
fn apply_cluster_flags(config: &mut nertc_server::ServerConfig, cli: &Cli) {
    if cli.redis_url.is_none() && cli.node_id.is_none() && cli.public_url.is_none() {
        return;
    }
    let c = config.cluster.get_or_insert_with(Default::default);
    if let Some(u) = &cli.redis_url {
        c.redis_url = u.clone();
    }
    if let Some(id) = &cli.node_id {
        c.node_id = Some(id.clone());
    }
    if let Some(u) = &cli.public_url {
        c.public_url = Some(u.clone());
    }
}

fn cluster_command(config: &ServerConfig, command: &Command) -> std::process::ExitCode {
    let Some(cluster) = &config.cluster else {
        eprintln!("nertc-server: no cluster: pass --redis-url or a --config with a [cluster] table");
        return std::process::ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nertc-server: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Drain => {
                let Some(id) = &cluster.node_id else { return Err("drain needs --node-id".to_owned()) };
                nertc_server::cluster::request_drain(&cluster.redis_url, id).await?;
                println!("asked node {id} to drain");
                Ok(())
            }
            _ => {
                let nodes = nertc_server::cluster::status(&cluster.redis_url).await?;
                print!("{}", format_status(&nodes, nertc_server::cluster::now_ms()));
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nertc-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM when `watch` (cluster mode, Unix); otherwise never, and SIGTERM keeps
/// its default (the process ends at once), as before cluster mode existed.
async fn sigterm(watch: bool) {
    #[cfg(unix)]
    if watch {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                return;
            }
            Err(e) => tracing::warn!("cannot watch SIGTERM ({e}); drain with `nertc-server drain` instead"),
        }
    }
    #[cfg(not(unix))]
    let _ = watch;
    std::future::pending::<()>().await
}

/// The `cluster status` table.
fn format_status(nodes: &[nertc_server::cluster::NodeInfo], now_ms: u64) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{} live node(s)\n", nodes.len());
    let _ = writeln!(
        out,
        "{:<20} {:<28} {:>5} {:>5} {:>8} {:>5} {:>6} {:>9} state",
        "NODE", "URL", "ROOMS", "USERS", "PKT/S", "CPU%", "SCORE", "SEEN"
    );
    for n in nodes {
        let seen = format!("{}ms ago", now_ms.saturating_sub(n.heartbeat_ms));
        let state = if n.draining { "draining" } else { "serving" };
        let _ = writeln!(
            out,
            "{:<20} {:<28} {:>5} {:>5} {:>8} {:>5} {:>6} {:>9} {state}",
            n.id,
            n.url,
            n.rooms,
            n.users,
            n.pps,
            n.cpu,
            n.score(),
            seen
        );
        for r in &n.room_keys {
            let _ = writeln!(out, "    {r}");
        }
    }
    out
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
    if let Some(Command::Token { app_key, channel, uid, ttl, secret }) = &cli.command {
        let (app_key, channel, uid, ttl, secret) = (app_key.clone(), channel.clone(), *uid, *ttl, secret.clone());
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
    apply_cluster_flags(&mut config, &cli);
    if let Some(command @ (Command::Cluster { .. } | Command::Drain)) = &cli.command {
        return cluster_command(&config, command);
    }
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if let Err(e) = config.validate() {
        eprintln!("nertc-server: {e}");
        return std::process::ExitCode::from(2);
    }
    let drain_grace = config.cluster.as_ref().map_or(std::time::Duration::ZERO, |c| c.drain_timeout());
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
        if let Some(id) = server.node_id() {
            println!("nertc-server node {id}");
        }
        let mut drain_requested = server.drain_requested();
        let drain = tokio::select! {
            _ = tokio::signal::ctrl_c() => false,
            _ = sigterm(server.node_id().is_some()) => true,
            // Err (no cluster: nobody can ask) disables this branch.
            Ok(_) = drain_requested.wait_for(|d| *d) => true,
        };
        if drain {
            tracing::info!("draining");
            server.drain(drain_grace).await;
        } else {
            tracing::info!("shutting down");
            server.shutdown().await;
        }
        std::process::ExitCode::SUCCESS
    })
}
