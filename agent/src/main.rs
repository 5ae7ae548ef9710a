//! `relay-connector`: the command line, the exit statuses, and the wiring of the modules.
//!
//! With `--pair CODE`, `pair.rs` trades the code for device credentials, `config.rs` saves
//! them, and the process exits. Otherwise it reads the config and runs until SIGTERM/SIGINT
//! or a verdict from the relay: `link.rs` keeps a WebSocket to the relay and hands its frames
//! to `sessions.rs`, which runs shells on PTYs (`pty/`) whose output flows back through
//! `outbox.rs`. With a `node` object in the config, `node/` also answers the relay's AI-node
//! commands on the same link, and a `restart` command runs the connector again (exec).
//! Everything runs on one thread, on one smol executor.

mod backoff;
mod config;
mod frame;
mod http;
mod link;
mod log;
mod node;
mod notify;
mod outbox;
mod pair;
mod pty;
mod random;
mod session;
mod sessions;
mod transport;

use argh::{EarlyExit, FromArgs};
use link::{Link, Stop};
use log::info;
use node::Node;
use notify::Latch;
use outbox::Outbox;
use sessions::Sessions;
use smol::LocalExecutor;
use smol::stream::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use transport::Tls;

/// Give browsers a terminal on this machine through a PrivaClaw relay. The connector only
/// makes outbound connections: pair it once with a code from the web app, then run it
/// (usually as a service).
#[derive(FromArgs)]
#[argh(
    example = "Pair this machine with the code shown in the web app, then connect:\n  $ {command_name} --pair ABC234 --api https://relay.example.com/functions/v1 --name \"Build box\"\n  $ {command_name}",
    note = "The configuration file holds the device's secret token; it is created readable by its owner only. An optional \"node\" object in it makes this machine an AI node as well (see the README). A service manager should not restart the connector after exit status 3 or 4 (systemd: RestartPreventExitStatus=3 4).",
    error_code(0, "stopped by SIGTERM or SIGINT, or paired"),
    error_code(1, "an error, explained on stderr"),
    error_code(2, "wrong command line"),
    error_code(3, "no usable credentials, or the relay refused them: pair again"),
    error_code(4, "another connector with the same credentials replaced this one")
)]
struct Cli {
    /// pair with the relay using this one-time code from the web app, save the credentials,
    /// and exit
    #[argh(option, arg_name = "CODE")]
    pair: Option<String>,

    /// device name: with --pair, renames the device (default: keep the name given in the web
    /// app); when connecting, the name shown to the relay (default: the hostname)
    #[argh(option, arg_name = "NAME")]
    name: Option<String>,

    /// the relay's API base URL, needed with --pair, e.g.
    /// https://relay.example.com/functions/v1
    #[argh(option, arg_name = "URL")]
    api: Option<String>,

    /// configuration file (default: ~/.relay-connector.json)
    #[argh(option, arg_name = "PATH")]
    config: Option<PathBuf>,

    /// shell for terminal sessions (default: $SHELL, else /bin/sh; on Windows: PowerShell,
    /// else %COMSPEC%)
    #[argh(option, arg_name = "PATH")]
    shell: Option<PathBuf>,

    /// also trust the CA certificates in this PEM file (a relay with a private CA)
    #[argh(option, arg_name = "PATH")]
    ca_file: Option<PathBuf>,

    /// log connections, sessions and ignored frames to stderr
    #[argh(switch, short = 'v')]
    verbose: bool,

    /// print the version and exit
    #[argh(switch)]
    version: bool,
}

/// Exit statuses, as documented in `--help`.
#[derive(Clone, Copy)]
enum Exit {
    Ok = 0,
    Error = 1,
    Usage = 2,
    RePair = 3,
    Replaced = 4,
}

fn main() -> ExitCode {
    let status = match parse_args() {
        Ok(cli) => run(cli),
        Err(exit) => exit,
    };
    ExitCode::from(status as u8)
}

fn parse_args() -> Result<Cli, Exit> {
    let args: Option<Vec<String>> = std::env::args_os().skip(1).map(|a| a.into_string().ok()).collect();
    let Some(args) = args else {
        info!("arguments must be valid UTF-8");
        return Err(Exit::Usage);
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Cli::from_args(&["relay-connector"], &args).map_err(|EarlyExit { output, status }| {
        if status.is_ok() {
            let _ = writeln!(std::io::stdout(), "{output}");
            Exit::Ok
        } else {
            let _ = writeln!(std::io::stderr(), "{output}\nRun relay-connector --help for help.");
            Exit::Usage
        }
    })
}

fn run(cli: Cli) -> Exit {
    if cli.version {
        let _ = writeln!(std::io::stdout(), "relay-connector {}", env!("CARGO_PKG_VERSION"));
        return Exit::Ok;
    }
    log::set_verbose(cli.verbose);
    let Some(config_path) = cli.config.or_else(config::default_path) else {
        info!("no home directory to keep the configuration in: pass --config PATH");
        return Exit::Usage;
    };
    let tls = match Tls::new(cli.ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(e) => {
            info!("{e}");
            return Exit::Error;
        }
    };
    match cli.pair {
        Some(code) => pair(&code, cli.api.as_deref(), cli.name.as_deref(), &config_path, &tls),
        None => {
            let name = cli.name.unwrap_or_else(hostname);
            connect(&config_path, name, cli.shell.unwrap_or_else(pty::default_shell), &tls)
        }
    }
}

fn pair(code: &str, api: Option<&str>, name: Option<&str>, config_path: &Path, tls: &Tls) -> Exit {
    let Some(api) = api else {
        info!("--pair needs --api URL, the relay's API (e.g. https://relay.example.com/functions/v1)");
        return Exit::Usage;
    };
    let mut config = match smol::block_on(pair::pair(api, code, name, tls)) {
        Ok(config) => config,
        Err(e) => {
            info!("pairing failed: {e}");
            return Exit::Error;
        }
    };
    // Pairing again keeps the AI-node commands this machine's owner configured.
    config.node = config::load(config_path).ok().and_then(|old| old.node);
    if let Err(e) = config::save(config_path, &config) {
        info!("paired, but cannot save the credentials to {}: {e}", config_path.display());
        return Exit::Error;
    }
    let start = match config::default_path() {
        Some(default) if default == config_path => "relay-connector".to_owned(),
        _ => format!("relay-connector --config {}", config_path.display()),
    };
    let _ = writeln!(
        std::io::stdout(),
        "Paired: this machine is device {} on {}.\n\
         Credentials saved to {} (readable by you only).\n\
         Start the connector with: {start}\n\
         or, if it is installed as a service: {service}",
        config.device_id,
        config.relay_url,
        config_path.display(),
        service = if cfg!(windows) {
            "schtasks /Run /TN relay-connector"
        } else {
            "systemctl restart relay-connector (OpenRC: rc-service relay-connector restart)"
        },
    );
    Exit::Ok
}

fn connect(config_path: &Path, name: String, shell: PathBuf, tls: &Tls) -> Exit {
    let config = match config::load(config_path) {
        Ok(config) => config,
        Err(e) => {
            info!("{e}");
            return Exit::RePair;
        }
    };
    let endpoint = match link::connect_endpoint(&config.relay_url) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            info!("{}: relay_url: {e}", config_path.display());
            return Exit::RePair;
        }
    };
    let ex = Rc::new(LocalExecutor::new());
    let stop = smol::block_on(ex.run(async {
        let shutdown = Rc::new(Latch::new());
        if let Err(e) = watch_signals(&ex, shutdown.clone()) {
            info!("cannot watch for SIGTERM/SIGINT: {e}");
            return None;
        }
        let outbox = Rc::new(Outbox::default());
        let sessions = Sessions::new(ex.clone(), outbox.clone(), shell);
        let node = config.node.as_ref().map(|n| Node::new(ex.clone(), outbox.clone(), config.device_id.clone(), n));
        if let Some(node) = &node {
            info!("{}", node.describe());
        }
        let link = Link {
            endpoint,
            config: &config,
            name,
            tls,
            sessions: &sessions,
            node: node.as_ref(),
            outbox: &outbox,
            shutdown: &shutdown,
        };
        let stop = link.run().await;
        // Shells and commands must not outlive the connector: end them, and wait until they
        // are reaped.
        sessions.end_all(None);
        sessions.all_finished().await;
        if let Some(node) = &node {
            node.end_all();
            node.all_finished().await;
        }
        Some(stop)
    }));
    match stop {
        None => Exit::Error,
        Some(Stop::Shutdown) => {
            info!("stopped");
            Exit::Ok
        }
        Some(Stop::Restart) => restart(),
        Some(Stop::RePair) => {
            info!(
                "the relay refused this device's credentials (close 4001): the device was deleted \
                 or paired again. Pair this machine again with: relay-connector --pair CODE --api URL"
            );
            Exit::RePair
        }
        Some(Stop::Replaced) => {
            info!(
                "another connector with this device's credentials replaced this one (close 4004); \
                 stopping, so the two do not take turns. Run one connector per device."
            );
            Exit::Replaced
        }
    }
}

/// Runs the connector again with the same arguments: Unix replaces this process (exec, same
/// pid: a service manager sees no exit); Windows starts a new copy and exits 0.
fn restart() -> Exit {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "relay-connector".into());
    let args: Vec<_> = args.collect();
    info!("restarting");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // argv[0] as it was started (a PATH lookup without a slash), so a binary replaced by
        // an update is the one that runs; else the file this process was started from.
        let e = std::process::Command::new(&argv0).args(&args).exec();
        let e = match std::env::current_exe() {
            Ok(exe) => std::process::Command::new(exe).arg0(&argv0).args(&args).exec(),
            Err(_) => e,
        };
        info!("cannot restart: {e}");
        Exit::Error
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        use windows_sys::Win32::System::Threading::CREATE_BREAKAWAY_FROM_JOB;
        let exe = std::env::current_exe().unwrap_or_else(|_| argv0.into());
        let mut command = std::process::Command::new(exe);
        command.args(&args);
        // Out of the job a service wrapper may run us in, where the job allows it.
        let started =
            command.creation_flags(CREATE_BREAKAWAY_FROM_JOB).spawn().or_else(|_| command.creation_flags(0).spawn());
        match started {
            Ok(_) => Exit::Ok,
            Err(e) => {
                info!("cannot restart: {e}");
                Exit::Error
            }
        }
    }
}

/// Sets `shutdown` on the first SIGTERM or SIGINT (Ctrl-C on Windows).
fn watch_signals(ex: &LocalExecutor<'static>, shutdown: Rc<Latch>) -> std::io::Result<()> {
    use async_signal::{Signal, Signals};
    #[cfg(unix)]
    let mut signals = Signals::new([Signal::Term, Signal::Int])?;
    #[cfg(windows)]
    let mut signals = Signals::new([Signal::Int])?;
    let task = async move {
        signals.next().await;
        info!("stopping: ending sessions");
        shutdown.set();
    };
    ex.spawn(task).detach();
    Ok(())
}

/// The default device name.
fn hostname() -> String {
    #[cfg(unix)]
    return rustix::system::uname().nodename().to_string_lossy().into_owned();
    #[cfg(windows)]
    return std::env::var("COMPUTERNAME").unwrap_or_else(|_| "windows".to_owned());
}
