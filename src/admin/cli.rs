//! `storefront admin create --email E [--password-stdin]`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use super::users::{self, Created};
use crate::accounts::password;
use crate::clock::{Clock as _, SystemClock};
use crate::config::Config;
use crate::startup::{StartError, connect_and_migrate_for_maintenance};

/// Reads the password: the first line of stdin, or a prompt (without echo on a terminal).
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let interactive = !from_stdin && stdin.is_terminal();
    if interactive {
        eprint!(
            "Password for the admin (at least {} characters): ",
            users::MIN_PASSWORD_CHARS
        );
        let _ = std::io::stderr().flush();
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        set_echo(true);
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Turns terminal echo off or on through `stty` (no unsafe code here); harmless if it fails.
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

pub async fn create(config: Config, email: &str, password_stdin: bool) -> Result<(), StartError> {
    let email = email.trim().to_owned();
    if email.len() > 254 || !validator::ValidateEmail::validate_email(&email) {
        return Err(anyhow::anyhow!("--email: {email:?} is not an e-mail address").into());
    }
    let password = read_password(password_stdin)?;
    users::check_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pool = connect_and_migrate_for_maintenance(&config).await?;
    let now = SystemClock.unix();
    let outcome = actix_web::web::block(move || -> anyhow::Result<_> {
        let hash = password::hash(&password)?;
        let mut conn = pool.get()?;
        Ok(crate::db::write_tx(&mut conn, |conn| {
            users::create_or_promote(conn, &email, &hash, now)
        })?)
    })
    .await
    .map_err(anyhow::Error::from)??;
    let (user, what) = outcome;
    let verb = match what {
        Created::Created => "created admin",
        Created::Promoted => "promoted to admin",
        Created::Updated => "updated the password of admin",
    };
    println!("{verb} {} (id {})", user.email, user.id);
    Ok(())
}
