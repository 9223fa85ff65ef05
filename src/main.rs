use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use clap::Parser;
use linewise::cli::{Cli, Command, UserCommand};
use linewise::config::LogFormat;
use linewise::domain::Role;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.settings.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match cli.command {
        Command::Serve { demo } => serve(&cli.settings, demo).await,
        Command::Import { file, format } => {
            let (state, _) = linewise::app::build(&cli.settings).await?;
            let report =
                linewise::cli::run_import(state.store.clone(), state.ingest.clone(), &file, format)
                    .await?;
            println!("{report}");
            if report.rejected > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Backup { file } => {
            let store = linewise::store::open(&cli.settings.database_url).await?;
            store.backup_to(&file).await?;
            println!("backed up to {file}");
            Ok(())
        }
        Command::Call {
            provider,
            provider_call_id,
        } => {
            let store = linewise::store::open(&cli.settings.database_url).await?;
            match store.find_call(&provider, &provider_call_id).await? {
                Some(call) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&linewise::cli::call_json(call))?
                    );
                    Ok(())
                }
                None => {
                    eprintln!("no {provider} call has the id '{provider_call_id}'");
                    std::process::exit(1);
                }
            }
        }
        Command::Demo { days } => {
            let (state, admin) = linewise::app::build(&cli.settings).await?;
            print_admin(admin);
            let report =
                linewise::demo::fill(state.store.as_ref(), days, jiff::Timestamp::now()).await?;
            println!("{report}");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    role,
                    password,
                },
        } => {
            let role: Role = role
                .parse()
                .map_err(|e: linewise::domain::Invalid| anyhow::anyhow!("{e}"))?;
            let email = linewise::http::api::users::parse_email(&email)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let password = match password {
                Some(p) => p,
                None => prompt_password()?,
            };
            linewise::http::api::users::check_password(&password)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let (state, _) = linewise::app::build(&cli.settings).await?;
            let hash = linewise::auth::hash_password_blocking(password).await;
            let user = state
                .store
                .create_user(
                    &email,
                    &hash,
                    role,
                    &[],
                    linewise::http::audit::system("cli"),
                )
                .await
                .context("creating the user")?;
            println!("created {} ({}) with id {}", user.email, user.role, user.id);
            Ok(())
        }
    }
}

async fn serve(settings: &linewise::config::Settings, demo: bool) -> anyhow::Result<()> {
    let (state, admin) = linewise::app::build(settings).await?;
    if demo {
        if state
            .store
            .list_calls(
                &linewise::store::LineScope::All,
                &linewise::store::CallQuery {
                    limit: 1,
                    ..Default::default()
                },
            )
            .await?
            .is_empty()
        {
            eprintln!("filling the empty database with 90 days of demo traffic…");
            let report =
                linewise::demo::fill(state.store.as_ref(), 90, jiff::Timestamp::now()).await?;
            eprintln!("{report}");
        } else {
            eprintln!("the database already has calls; demo data not added");
        }
    }
    // The first answers need not wait for what can be read ahead.
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.warm_up().await {
            tracing::warn!(error = %e, "reading ahead at start failed; answers will read it when needed");
        }
    });
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    let addr = listener.local_addr()?;
    print_admin(admin);
    println!(
        "linewise listening on http://{addr} ({} database)",
        state.store.engine()
    );
    std::io::stdout().flush()?;
    linewise::http::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

fn print_admin(admin: Option<linewise::app::BootstrapAdmin>) {
    if let Some(a) = admin {
        match a.generated_password {
            Some(p) => println!(
                "created the first admin: {}  password: {p}  (shown once; change it)",
                a.email
            ),
            None => println!(
                "created the first admin: {} (password from LINEWISE_ADMIN_PASSWORD)",
                a.email
            ),
        }
    }
}

fn prompt_password() -> anyhow::Result<String> {
    eprint!("password: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        bail!("no password given (set LINEWISE_PASSWORD or type one)");
    }
    Ok(p)
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
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
