//! The binary itself: one-line configuration errors, migrate, seed.

use std::process::Command;

use crate::helpers::TestDb;

fn storefront(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storefront"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run storefront")
}

fn one_line_error(out: &std::process::Output, var: &str) {
    assert_eq!(out.status.code(), Some(2), "exit code");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].contains(var), "{var} not named: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_variable() {
    one_line_error(
        &storefront("mysql://nope", &["migrate"], &[]),
        "DATABASE_URL",
    );
    one_line_error(
        &storefront("postgres://postgres@127.0.0.1:1/none", &["migrate"], &[]),
        "DATABASE_URL",
    );
    one_line_error(
        &storefront("sqlite://x.db", &["serve"], &[("SESSION_KEY", "c2hvcnQ=")]),
        "SESSION_KEY",
    );
    one_line_error(
        &storefront("sqlite://x.db", &["serve"], &[("BIND", "0.0.0.0:8080")]),
        "STRIPE_SECRET_KEY",
    );
}

#[test]
fn help_lists_the_commands() {
    let out = storefront("sqlite://x.db", &["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "seed"] {
        assert!(text.contains(cmd), "{cmd} missing from --help: {text}");
    }
}

#[test]
fn migrate_and_seed_from_the_command_line() {
    let db = TestDb::new();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "[[products]]\nslug = \"mug\"\nname = \"Mug\"\nstock = 3\nprices = [{ key = \"mug\", unit_amount = 900 }]\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();

    let out = storefront(&db.url, &["migrate"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = storefront(&db.url, &["seed", path], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("products: 1 created"));

    let out = storefront(&db.url, &["seed", path], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .contains("products: 0 created, 0 updated; prices: 0 created, 0 updated; 2 unchanged"),
        "{stdout}"
    );

    let out = storefront(&db.url, &["seed", "/no/such/file.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
}
