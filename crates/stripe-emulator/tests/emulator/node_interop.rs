//! P3: the official Stripe Node SDK (npm `stripe`, pinned in node/package.json) drives the
//! emulator through node/interop.mjs. The test installs the package with `npm ci` when missing.

use std::path::PathBuf;
use std::process::Command;

use stripe_emulator::{Emulator, EmulatorConfig};

use crate::support::KEY;

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/emulator/node")
}

#[actix_web::test]
#[ignore = "needs Node.js and npm; .ci/run runs it"]
async fn official_node_sdk_drives_the_emulator() {
    let dir = node_dir();
    if !dir.join("node_modules/stripe/package.json").exists() {
        let status = web_block_command(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )
        .await;
        assert!(status.0, "npm ci failed: {}", status.1);
    }
    let emu = Emulator::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        db: ":memory:".into(),
        webhook: None,
        rate_limits: Default::default(),
    })
    .await
    .unwrap();
    let mut cmd = Command::new("node");
    cmd.arg("interop.mjs")
        .current_dir(&dir)
        .env("EMULATOR_ORIGIN", emu.origin())
        .env("STRIPE_SECRET_KEY", KEY);
    let (ok, output) = web_block_command(&mut cmd).await;
    emu.stop().await;
    assert!(ok, "node interop failed:\n{output}");
    assert!(output.contains("interop ok"), "{output}");
}

/// Run a command off the async executor (the emulator keeps serving meanwhile).
async fn web_block_command(cmd: &mut Command) -> (bool, String) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts (is Node.js installed?)");
    let out = actix_web::web::block(move || child.wait_with_output())
        .await
        .expect("blocking task")
        .expect("command output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
