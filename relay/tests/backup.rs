//! `privaclaw-relay backup` and `restore`: a consistent copy taken while the relay works,
//! restored into a new data directory with every account, device and token still valid;
//! restore refusing a running relay's directory and files that are not backups; a database
//! from a newer relay refused at start.

use crate::common::*;
use serde_json::json;

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn a_backup_taken_while_sessions_stream_restores_every_account_device_and_token() {
    let relay = Relay::start_with(Opts::default().own_secret()).await;
    let mut s = relay.setup().await;
    let file = relay.dir.path().join("relay.backup");
    if relay.database_url.is_some() {
        let out = relay.subcommand(&["backup", file.to_str().unwrap()]).output().unwrap();
        assert!(!out.status.success() && text(&out).contains("pg_dump"), "{}", text(&out));
        return;
    }
    let (session, mut browser) = s.open(&relay).await;
    // Paired before the backup starts: a pairing that races the copy may or may not be in it.
    let (second_id, code) = relay.device(&s.owner, &s.project, "second").await;
    let second = relay.pair(&code).await;
    let mut backup =
        relay.subcommand(&["backup", file.to_str().unwrap()]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // While it copies: the second device connects (its status is written), the session streams.
    let _second_link = Ws::connector(&relay, &second, None).await;
    let mut lines = 0;
    loop {
        s.conn.send(stdout(&session, &format!("line {lines}\r\n"))).await;
        lines += 1;
        if backup.try_wait().unwrap().is_some() {
            break;
        }
    }
    let out = backup.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("backed up"), "{}", text(&out));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    browser.output_until(&format!("line {}\r\n", lines - 1)).await;

    let mut restored = Relay::stopped(Opts::default().own_secret()).await;
    let out = restored.subcommand(&["restore", file.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    restored.restart();
    // The old sign-in's tokens, the password, both devices' tokens.
    let (st, projects) = restored.get("/api/v1/projects", &s.owner.token).await;
    assert_eq!(st, 200, "{projects}");
    assert_eq!(projects[0]["id"], s.project.as_str());
    let (st, refreshed) = restored
        .call("POST", "/auth/v1/token?grant_type=refresh_token", None, Some(json!({"refresh_token": s.owner.refresh})))
        .await;
    assert_eq!(st, 200, "{refreshed}");
    restored.sign_in(&s.owner.email).await;
    Ws::connector(&restored, &s.creds, None).await;
    Ws::connector(&restored, &second, None).await;
    let (_, devices) = restored.get(&format!("/api/v1/projects/{}/devices", s.project), &s.owner.token).await;
    let mut ids: Vec<&str> = devices.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![s.device.as_str(), second_id.as_str()];
    want.sort();
    assert_eq!(ids, want);
}

use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn restore_refuses_a_running_relay_s_directory_and_what_is_not_a_backup() {
    let relay = Relay::start().await;
    if relay.database_url.is_some() {
        return; // SQLite only: the PostgreSQL refusal is the test above
    }
    relay.signup("kept@example.com").await;
    let file = relay.dir.path().join("relay.backup");
    assert!(relay.subcommand(&["backup", file.to_str().unwrap()]).output().unwrap().status.success());
    let again = relay.subcommand(&["backup", file.to_str().unwrap()]).output().unwrap();
    assert!(!again.status.success() && text(&again).contains("never overwrites"), "{}", text(&again));

    let live = relay.subcommand(&["restore", file.to_str().unwrap(), "--replace"]).output().unwrap();
    assert!(!live.status.success(), "{}", text(&live));
    assert!(text(&live).contains("a relay is running on") && text(&live).contains("stop it first"), "{}", text(&live));
    relay.sign_in("kept@example.com").await;

    let mut other = Relay::stopped(Opts::default()).await;
    let junk = other.dir.path().join("junk");
    std::fs::write(&junk, "not a database").unwrap();
    let out = other.subcommand(&["restore", junk.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success() && text(&out).contains("is not a privaclaw-relay backup"), "{}", text(&out));
    assert!(other.subcommand(&["restore", file.to_str().unwrap()]).output().unwrap().status.success());
    let twice = other.subcommand(&["restore", file.to_str().unwrap()]).output().unwrap();
    assert!(!twice.status.success() && text(&twice).contains("--replace"), "{}", text(&twice));
    assert!(other.subcommand(&["restore", file.to_str().unwrap(), "--replace"]).output().unwrap().status.success());
    other.restart();
    other.sign_in("kept@example.com").await;
}

#[tokio::test]
async fn a_database_from_a_newer_relay_is_refused_with_what_to_do() {
    let mut relay = Relay::start().await;
    relay.kill();
    let future = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                  VALUES (9999, 'from a newer relay', TRUE, ";
    use sqlx::Connection;
    match &relay.database_url {
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(&format!("{future} '\\x00'::bytea, 0)")).execute(&mut c).await.unwrap();
        }
        None => {
            let db = relay.data_dir().join("privaclaw.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
            sqlx::query(&format!("{future} X'00', 0)")).execute(&mut c).await.unwrap();
        }
    }
    let said = relay.start_failing(&[]);
    assert!(said.contains("written by a newer privaclaw-relay (schema version 9999"), "{said}");
    assert!(said.contains("restore a backup made with this one"), "{said}");
}
