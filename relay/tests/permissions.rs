//! The reference's row-level-security rules, enforced by the relay: one test per rule, each
//! trying every role — owner, member, stranger (signed in, not in the project) and anonymous.

use crate::common::*;
use serde_json::{Value, json};

struct World {
    relay: Relay,
    owner: User,
    member: User,
    stranger: User,
    project: String,
    device: String,
    creds: Creds,
    conn: Ws,
}

async fn world() -> World {
    let relay = Relay::start().await;
    let s = relay.setup().await;
    let member = relay.signup("member@example.com").await;
    let stranger = relay.signup("stranger@example.com").await;
    relay.add_member(&s.owner, &s.project, &member).await;
    World {
        relay,
        member,
        stranger,
        owner: s.owner,
        project: s.project,
        device: s.device,
        creds: s.creds,
        conn: s.conn,
    }
}

impl World {
    /// The status each role gets for one request: [owner, member, stranger, anonymous].
    async fn statuses(&self, method: &str, path: &str, body: Option<Value>) -> [u16; 4] {
        let mut out = [0; 4];
        for (i, token) in [Some(&self.owner.token), Some(&self.member.token), Some(&self.stranger.token), None]
            .into_iter()
            .enumerate()
        {
            out[i] = self.relay.call(method, path, token.map(String::as_str), body.clone()).await.0;
        }
        out
    }

    /// The status member, stranger and anonymous get (the owner does not act): for changes
    /// the owner would really make.
    async fn others(&self, method: &str, path: &str, body: Option<Value>) -> [u16; 3] {
        let mut out = [0; 3];
        for (i, token) in [Some(&self.member.token), Some(&self.stranger.token), None].into_iter().enumerate() {
            out[i] = self.relay.call(method, path, token.map(String::as_str), body.clone()).await.0;
        }
        out
    }
}

#[tokio::test]
async fn projects_are_visible_to_members_and_changed_by_owners() {
    let w = world().await;
    let p = format!("/api/v1/projects/{}", w.project);
    assert_eq!(w.statuses("GET", &p, None).await, [200, 200, 404, 401]);
    let (_, list) = w.relay.get("/api/v1/projects", &w.stranger.token).await;
    assert_eq!(list, json!([]), "a stranger's list does not show it");
    let (_, list) = w.relay.get("/api/v1/projects", &w.member.token).await;
    assert_eq!(list[0]["role"], "member");
    let rename = Some(json!({"name": "Renamed"}));
    // Owner last, so the member's and stranger's attempts meet the original project.
    assert_eq!(w.others("PATCH", &p, rename.clone()).await, [403, 404, 401]);
    assert_eq!(w.relay.call("PATCH", &p, Some(&w.owner.token), rename).await.0, 200);
    let del = w.statuses("DELETE", &p, None).await;
    assert_eq!(del, [204, 404, 404, 401], "member/stranger calls came after the owner deleted it");
}

#[tokio::test]
async fn only_owners_delete_projects() {
    let w = world().await;
    let p = format!("/api/v1/projects/{}", w.project);
    assert_eq!(w.relay.call("DELETE", &p, Some(&w.member.token), None).await.0, 403);
    assert_eq!(w.relay.call("DELETE", &p, Some(&w.stranger.token), None).await.0, 404);
    assert_eq!(w.relay.call("DELETE", &p, None, None).await.0, 401);
    assert_eq!(w.relay.get(&p, &w.owner.token).await.0, 200, "still there");
}

#[tokio::test]
async fn devices_are_visible_to_members_and_managed_by_owners() {
    let w = world().await;
    let list = format!("/api/v1/projects/{}/devices", w.project);
    assert_eq!(w.statuses("GET", &list, None).await, [200, 200, 404, 401]);
    let d = format!("/api/v1/devices/{}", w.device);
    assert_eq!(w.statuses("GET", &d, None).await, [200, 200, 404, 401]);
    assert_eq!(w.others("POST", &list, Some(json!({"name": "x"}))).await, [403, 404, 401]);
    assert_eq!(w.statuses("PATCH", &d, Some(json!({"name": "y"}))).await, [200, 403, 404, 401]);
    assert_eq!(w.statuses("POST", &format!("{d}/pairing-code"), None).await, [200, 403, 404, 401]);
    assert_eq!(w.others("DELETE", &d, None).await, [403, 404, 401]);
    assert_eq!(w.relay.get(&d, &w.owner.token).await.0, 200, "still there after the refused deletes");
}

#[tokio::test]
async fn pairing_codes_are_shown_to_owners_only() {
    let w = world().await;
    let (_, d) = w.relay.post(&format!("/api/v1/devices/{}/pairing-code", w.device), &w.owner.token, json!({})).await;
    assert_eq!(d["pairing_code"].as_str().map(str::len), Some(6));
    let (_, m) = w.relay.get(&format!("/api/v1/devices/{}", w.device), &w.member.token).await;
    assert!(m["pairing_code"].is_null(), "{m}");
    let (_, list) = w.relay.get(&format!("/api/v1/projects/{}/devices", w.project), &w.member.token).await;
    assert!(list[0]["pairing_code"].is_null());
}

#[tokio::test]
async fn members_connect_to_terminals_strangers_do_not() {
    let mut w = world().await;
    let body = Some(json!({"device_id": w.device}));
    let st = w.statuses("POST", "/functions/v1/start-session", body).await;
    assert_eq!(st, [200, 200, 404, 401]);
    let session = w.relay.start_session(&w.member, &w.device).await;
    // The member's browser attaches; the stranger's is refused as if the session did not exist.
    let mut b = w.relay.browser(&w.member, &session, &w.device).await;
    w.conn.expect("session_start").await;
    let mut s = Ws::open(&format!("{}/session", w.relay.ws)).await;
    s.send(json!({"type": "auth", "data": {"token": w.stranger.token, "session_id": session, "device_id": w.device}}))
        .await;
    assert_eq!(s.expect("error").await["data"]["code"], "session_invalid");
    assert_eq!(s.closed().await, Some(4002));
    b.send(json!({"type": "ping"})).await;
    b.expect("pong").await;
}

#[tokio::test]
async fn a_browser_cannot_reach_a_device_outside_its_projects() {
    let w = world().await;
    // The stranger has their own project and session, and names the other device.
    let mine = w.relay.setup().await;
    let session = w.relay.start_session(&mine.owner, &mine.device).await;
    let mut b = Ws::open(&format!("{}/session", w.relay.ws)).await;
    b.send(json!({"type": "auth", "data": {"token": mine.owner.token, "session_id": session, "device_id": w.device}}))
        .await;
    assert_eq!(b.expect("error").await["data"]["code"], "session_invalid");
    assert_eq!(b.closed().await, Some(4002));
}

#[tokio::test]
async fn session_history_follows_project_membership() {
    let mut w = world().await;
    let session = w.relay.start_session(&w.owner, &w.device).await;
    let _b = w.relay.browser(&w.owner, &session, &w.device).await;
    w.conn.expect("session_start").await;
    let path = format!("/api/v1/sessions?device_id={}", w.device);
    let count = |v: &Value| v.as_array().map(Vec::len);
    assert_eq!(count(&w.relay.get(&path, &w.owner.token).await.1), Some(1));
    assert_eq!(count(&w.relay.get(&path, &w.member.token).await.1), Some(1), "members see sessions on their devices");
    assert_eq!(count(&w.relay.get(&path, &w.stranger.token).await.1), Some(0));
    assert_eq!(w.relay.call("GET", &path, None, None).await.0, 401);
    let p = format!("/api/v1/projects/{}/sessions", w.project);
    assert_eq!(w.statuses("GET", &p, None).await, [200, 200, 404, 401]);
    let end = Some(json!({"session_id": session}));
    assert_eq!(w.others("POST", "/functions/v1/end-session", end).await[1..], [404, 401]);
}

#[tokio::test]
async fn team_is_visible_to_members_and_managed_by_owners() {
    let w = world().await;
    let members = format!("/api/v1/projects/{}/members", w.project);
    assert_eq!(w.statuses("GET", &members, None).await, [200, 200, 404, 401]);
    let invite = Some(json!({"project_id": w.project, "email": "new@example.com"}));
    assert_eq!(w.statuses("POST", "/functions/v1/invite-member", invite).await, [200, 403, 404, 401]);
    let inv = format!("/api/v1/projects/{}/invitations", w.project);
    assert_eq!(w.statuses("GET", &inv, None).await, [200, 200, 404, 401]);
    let (_, list) = w.relay.get(&inv, &w.owner.token).await;
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(w.others("DELETE", &format!("{inv}/{id}"), None).await, [403, 404, 401]);
    assert_eq!(w.relay.call("DELETE", &format!("{inv}/{id}"), Some(&w.owner.token), None).await.0, 204);
    let (_, list) = w.relay.get(&inv, &w.owner.token).await;
    assert_eq!(list[0]["status"], "cancelled");
    // Removing members: a member cannot remove the owner or others; the owner can.
    assert_eq!(w.relay.call("DELETE", &format!("{members}/{}", w.owner.id), Some(&w.member.token), None).await.0, 403);
    assert_eq!(
        w.relay.call("DELETE", &format!("{members}/{}", w.member.id), Some(&w.stranger.token), None).await.0,
        404
    );
    assert_eq!(w.relay.call("DELETE", &format!("{members}/{}", w.member.id), Some(&w.owner.token), None).await.0, 204);
    assert_eq!(
        w.relay.get(&format!("/api/v1/projects/{}", w.project), &w.member.token).await.0,
        404,
        "gone with the membership"
    );
}

#[tokio::test]
async fn profiles_belong_to_their_user() {
    let w = world().await;
    let (s, p) =
        w.relay.call("PATCH", "/api/v1/profile", Some(&w.member.token), Some(json!({"display_name": "Mo"}))).await;
    assert_eq!((s, p["display_name"].as_str()), (200, Some("Mo")));
    let (_, own) = w.relay.get("/api/v1/profile", &w.owner.token).await;
    assert!(own["display_name"].is_null(), "another user's update did not touch the owner's profile");
    assert_eq!(w.relay.call("GET", "/api/v1/profile", None, None).await.0, 401);
}

#[tokio::test]
async fn skill_configs_are_their_owner_s_alone() {
    let w = world().await;
    let body = json!({"skill_slug": "privaclaw", "node_id": "node-1", "name": "Lab", "config": {"relay_url": "wss://relay.example.com", "node_id": "node-1", "auth_token": "secret-123"}});
    let (s, c) = w.relay.post("/api/v1/skill-configs", &w.member.token, body.clone()).await;
    assert_eq!(s, 201, "{c}");
    let one = format!("/api/v1/skill-configs/{}", c["id"].as_str().unwrap());
    assert_eq!(w.statuses("GET", &one, None).await, [404, 200, 404, 401], "owner of the project is a stranger here");
    assert_eq!(w.statuses("PUT", &one, Some(body.clone())).await, [404, 200, 404, 401]);
    let (_, list) = w.relay.get("/api/v1/skill-configs", &w.owner.token).await;
    assert_eq!(list, json!([]));
    assert_eq!(w.statuses("DELETE", &one, None).await, [404, 204, 404, 401]);
    let bad = json!({"node_id": "n", "name": "x", "config": {"relay_url": "http://plain", "auth_token": "1234567"}});
    let (s, v) = w.relay.post("/api/v1/skill-configs", &w.member.token, bad).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_config")));
}

#[tokio::test]
async fn a_connector_token_cannot_act_as_another_device() {
    let mut w = world().await;
    let other = w.relay.setup().await;
    // Its own id with another device's token, and the other way round: both refused.
    for (id, token) in [(&w.device, &other.creds.token), (&other.device, &w.creds.token)] {
        let mut c = Ws::open(&format!("{}/connect", w.relay.ws)).await;
        c.send(json!({"type": "hello", "data": {"device_id": id, "token": token}})).await;
        assert_eq!(c.expect("error").await["data"]["code"], "auth_failed");
        assert_eq!(c.closed().await, Some(4001));
    }
    // A connected connector naming another device's session reaches nobody.
    let session = w.relay.start_session(&other.owner, &other.device).await;
    let mut b = w.relay.browser(&other.owner, &session, &other.device).await;
    w.conn.send(stdout(&session, "forged-output")).await;
    w.conn.send(json!({"type": "session_end", "data": {"session_id": session, "reason": "exit"}})).await;
    w.conn.send(json!({"type": "ping"})).await;
    w.conn.expect("pong").await;
    b.send(json!({"type": "ping"})).await;
    assert_eq!(b.frame().await["type"], "pong", "no forged output or end reached the other device's browser");
    let (_, rows) = w.relay.get(&format!("/api/v1/sessions?device_id={}", other.device), &other.owner.token).await;
    assert_eq!(rows[0]["status"], "active");
}
