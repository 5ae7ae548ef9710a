//! Access to terminals ends the moment it should: a removed member, or one who leaves, has
//! their open terminals of the project closed (4003, with the reason in an `error` frame),
//! their sessions there ended, their event stream cut from the project, and any resume
//! refused. Invitations are accepted through their link only, not by whoever signs up with the
//! address first. Joining a session someone else started is explicit, announced and recorded.

use crate::common::smtp::Smtp;
use crate::common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_removed_member_loses_open_terminals_sessions_events_and_resume_at_once() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let member = relay.signup("member@example.com").await;
    relay.add_member(&s.owner, &s.project, &member).await;
    // The member's own session, and the owner's that they joined.
    let theirs = relay.start_session(&member, &s.device).await;
    let mut own = relay.browser(&member, &theirs, &s.device).await;
    s.conn.expect("session_start").await;
    let owners = relay.start_session(&s.owner, &s.device).await;
    let mut owner_view = relay.browser(&s.owner, &owners, &s.device).await;
    s.conn.expect("session_start").await;
    let mut joined = relay.join(&member, &owners).await;
    owner_view.expect("viewer_joined").await;
    let mut events = Events::open(&relay, &member.token).await;
    events.next("ready").await;

    let (st, _) = relay
        .call("DELETE", &format!("/api/v1/projects/{}/members/{}", s.project, member.id), Some(&s.owner.token), None)
        .await;
    assert_eq!(st, 204);
    for b in [&mut own, &mut joined] {
        let e = b.expect("error").await;
        assert_eq!(e["data"]["code"], "access_revoked");
        assert!(e["data"]["message"].as_str().unwrap().contains("removed"), "{e}");
        assert_eq!(b.closed().await, Some(4003));
    }
    // The shell they started ends; the owner's goes on, and the owner sees them leave.
    let end = s.conn.expect("session_end").await;
    assert_eq!(
        (end["data"]["session_id"].as_str(), end["data"]["reason"].as_str()),
        (Some(theirs.as_str()), Some("access_revoked"))
    );
    assert_eq!(owner_view.expect("viewer_left").await["data"]["email"], "member@example.com");
    owner_view.send(stdin(&owners, "still-mine")).await;
    assert_eq!(s.conn.expect("stdin").await["data"]["session_id"], owners.as_str());

    // Their event stream is told, and from then on carries nothing of the project.
    let (name, data) = events.next_of(&["membership", "device"]).await.unwrap();
    assert_eq!((name.as_str(), data["project_id"].as_str()), ("membership", Some(s.project.as_str())));
    relay.device(&s.owner, &s.project, "secret-box").await;
    let elsewhere = relay.project(&member, "mine").await;
    relay.device(&member, &elsewhere, "my-box").await;
    let data = events.next("device").await;
    assert_eq!(data["project_id"], elsewhere.as_str(), "the first device event it hears is from its own project");

    // Coming back with the same session and a still-valid token is refused.
    for session in [&owners, &theirs] {
        let mut back = Ws::open(&format!("{}/session", relay.ws)).await;
        back.send(json!({"type": "auth", "data": {"token": member.token, "session_id": session, "join": true}})).await;
        assert_eq!(back.expect("error").await["data"]["code"], "session_invalid");
        assert_eq!(back.closed().await, Some(4002));
    }
}

#[tokio::test]
async fn a_member_who_leaves_is_closed_out_too() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let member = relay.signup("leaver@example.com").await;
    relay.add_member(&s.owner, &s.project, &member).await;
    let session = relay.start_session(&member, &s.device).await;
    let mut b = relay.browser(&member, &session, &s.device).await;
    s.conn.expect("session_start").await;
    let (st, _) = relay
        .call("DELETE", &format!("/api/v1/projects/{}/members/{}", s.project, member.id), Some(&member.token), None)
        .await;
    assert_eq!(st, 204);
    assert!(b.expect("error").await["data"]["message"].as_str().unwrap().contains("left"));
    assert_eq!(b.closed().await, Some(4003));
}

#[tokio::test]
async fn deleting_or_re_pairing_a_device_ends_its_sessions_for_every_browser() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let session = relay.start_session(&s.owner, &s.device).await;
    let mut b = relay.browser(&s.owner, &session, &s.device).await;
    s.conn.expect("session_start").await;
    // Re-paired: whoever holds the new code owns the machine now.
    let (_, d) = relay.post(&format!("/api/v1/devices/{}/pairing-code", s.device), &s.owner.token, json!({})).await;
    relay.pair(d["pairing_code"].as_str().unwrap()).await;
    assert_eq!(b.expect("session_end").await["data"]["reason"], "device_removed");
    assert!(b.closed().await.is_some());
    let mut back = Ws::open(&format!("{}/session", relay.ws)).await;
    back.send(json!({"type": "auth", "data": {"token": s.owner.token, "session_id": session}})).await;
    assert_eq!(back.closed().await, Some(4002), "no resume");
}

async fn accept(relay: &Relay, u: &User, token: &str) -> (u16, Value) {
    relay.post("/api/v1/invitations/accept", &u.token, json!({"token": token})).await
}

#[tokio::test]
async fn an_invitation_is_accepted_through_its_link_not_by_whoever_claims_the_address() {
    let relay = Relay::start().await;
    let owner = relay.signup("owner@example.com").await;
    let project = relay.project(&owner, "Crown jewels").await;
    let (st, v) = relay
        .post("/functions/v1/invite-member", &owner.token, json!({"project_id": project, "email": "cfo@example.com"}))
        .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("invited")), "{v}");
    let url = v["invite_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/invite?token=", relay.base)), "{url}");
    assert!(v["message"].as_str().unwrap().contains("shown only now"), "{v}");
    let token = url.split("token=").nth(1).unwrap().to_string();

    // Someone registers the invited address first: without email confirmation it proves
    // nothing, and they get nothing.
    let squatter = relay.signup("cfo@example.com").await;
    assert_eq!(relay.get("/api/v1/projects", &squatter.token).await.1, json!([]));
    // Inviting an existing account on a relay that confirms no address still goes by link.
    let (_, v) = relay
        .post("/functions/v1/invite-member", &owner.token, json!({"project_id": project, "email": "cfo@example.com"}))
        .await;
    assert_eq!(v["status"], "invited", "not added by address alone");
    let renewed = v["invite_url"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
    assert_eq!(accept(&relay, &squatter, &token).await.0, 404, "inviting again replaced the first link");

    // Whoever the owner gave the link to joins, once.
    let (st, preview) = relay.call("POST", "/api/v1/invitations/preview", None, Some(json!({"token": renewed}))).await;
    assert_eq!(st, 200);
    assert_eq!(
        (preview["project_name"].as_str(), preview["invited_by_email"].as_str()),
        (Some("Crown jewels"), Some("owner@example.com"))
    );
    let real = relay.signup("real.cfo@example.com").await;
    let (st, p) = accept(&relay, &real, &renewed).await;
    assert_eq!((st, p["id"].as_str(), p["role"].as_str()), (200, Some(project.as_str()), Some("member")));
    let (st, v) = accept(&relay, &squatter, &renewed).await;
    assert_eq!((st, v["error"].as_str()), (404, Some("invitation_invalid")), "single use");
    let (_, members) = relay.get(&format!("/api/v1/projects/{project}/members"), &owner.token).await;
    let emails: Vec<&str> = members.as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["owner@example.com", "real.cfo@example.com"]);

    // A cancelled invitation's link is dead.
    let (_, v) = relay
        .post("/functions/v1/invite-member", &owner.token, json!({"project_id": project, "email": "x@example.com"}))
        .await;
    let dead = v["invite_url"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
    let (_, pending) = relay.get(&format!("/api/v1/projects/{project}/invitations"), &owner.token).await;
    let id = pending.as_array().unwrap().iter().find(|i| i["status"] == "pending").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    relay.call("DELETE", &format!("/api/v1/projects/{project}/invitations/{id}"), Some(&owner.token), None).await;
    assert_eq!(accept(&relay, &squatter, &dead).await.0, 404);
}

#[tokio::test]
async fn with_email_confirmation_a_confirmed_account_is_added_and_invitations_are_mailed() {
    let smtp = Smtp::start().await;
    let relay = Relay::start_with(
        Opts::default().env("SMTP_URL", &smtp.url).arg("--public-url").arg("https://relay.example.com"),
    )
    .await;
    // Accounts on this relay are confirmed through the mail link.
    let mut users = Vec::new();
    for email in ["boss@example.com", "dev@example.com"] {
        let body = json!({"email": email, "password": "pass-word-123"});
        assert_eq!(relay.call("POST", "/auth/v1/signup", None, Some(body)).await.0, 200);
        let mail = smtp.mail(email, "verify?type=signup").await;
        let token = mail.text.split("token=").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
        let (st, v) =
            relay.call("POST", "/auth/v1/verify", None, Some(json!({"type": "signup", "token": token}))).await;
        assert_eq!(st, 200, "{v}");
        users.push(User::from(v));
    }
    let project = relay.project(&users[0], "p").await;
    let invite = |email: &str| {
        relay.post("/functions/v1/invite-member", &users[0].token, json!({"project_id": project, "email": email}))
    };
    let (_, v) = invite("dev@example.com").await;
    assert_eq!(v["status"], "added", "a confirmed address is its owner's: {v}");
    let (_, v) = invite("new@example.com").await;
    assert_eq!(v["status"], "invited");
    let mail = smtp.mail("new@example.com", "https://relay.example.com/invite?token=").await;
    assert!(mail.text.contains(v["invite_url"].as_str().unwrap()), "the mailed link is the one shown");
}

#[tokio::test]
async fn joining_someone_else_s_session_is_explicit_announced_and_recorded() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let member = relay.signup("pair@example.com").await;
    relay.add_member(&s.owner, &s.project, &member).await;
    let session = relay.start_session(&s.owner, &s.device).await;
    let mut owner_view = relay.browser(&s.owner, &session, &s.device).await;
    s.conn.expect("session_start").await;

    let mut quiet = Ws::open(&format!("{}/session", relay.ws)).await;
    quiet.send(json!({"type": "auth", "data": {"token": member.token, "session_id": session}})).await;
    let e = quiet.expect("error").await;
    assert_eq!(e["data"]["code"], "join_required");
    assert!(e["data"]["message"].as_str().unwrap().contains(&s.owner.email), "says whose session it is: {e}");
    assert_eq!(quiet.closed().await, Some(4006));

    let mut helper = relay.join(&member, &session).await;
    let news = owner_view.expect("viewer_joined").await;
    assert_eq!(
        (news["data"]["email"].as_str(), news["data"]["user_id"].as_str()),
        (Some("pair@example.com"), Some(member.id.as_str()))
    );
    helper.send(stdin(&session, "typed-by-helper")).await;
    assert_eq!(s.conn.expect("stdin").await["data"]["data_b64"], b64("typed-by-helper"));
    // The owner coming back to their own session needs no join, and hears who is there.
    let mut second = relay.browser(&s.owner, &session, &s.device).await;
    assert_eq!(second.expect("viewer_joined").await["data"]["email"], "pair@example.com");
    drop(helper);
    assert_eq!(owner_view.expect("viewer_left").await["data"]["email"], "pair@example.com");

    let (_, history) = relay.get(&format!("/api/v1/sessions?device_id={}", s.device), &s.owner.token).await;
    let row = history.as_array().unwrap().iter().find(|r| r["id"] == session.as_str()).unwrap().clone();
    assert_eq!(row["user_email"], s.owner.email.as_str());
    assert_eq!(row["joined"][0]["email"], "pair@example.com", "{row}");
    assert!(row["joined"][0]["joined_at"].is_string());
}
