//! Connector downloads from the dist directory, the checksum the reference connector's update
//! check reads, and the installer script with the relay's own URL.

use crate::common::*;
use sha2::{Digest, Sha256};

async fn relay_with_dist() -> Relay {
    let dist = tempfile::tempdir().unwrap().keep();
    std::fs::write(dist.join("relay-connector-linux-armv7"), b"pretend-armv7-binary").unwrap();
    Relay::start_with(Opts::default().arg("--dist-dir").arg(dist.to_str().unwrap())).await
}

/// `GET` of the Linux build for `arch`.
async fn linux_build(relay: &Relay, arch: &str) -> reqwest::Response {
    let url = relay.url(&format!("/functions/v1/download-connector?os=linux&arch={arch}"));
    relay.http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn serves_a_build_by_any_arch_alias_with_its_checksum() {
    let relay = relay_with_dist().await;
    let sum = hex::encode(Sha256::digest(b"pretend-armv7-binary"));
    for arch in ["armv7l", "armv7", "arm", "ARMv7l"] {
        let res = linux_build(&relay, arch).await;
        assert_eq!(res.status(), 200, "{arch}");
        assert_eq!(res.headers()["etag"], format!("\"{sum}\"").as_str());
        assert_eq!(res.headers()["x-checksum-sha256"], sum.as_str());
        assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"relay-connector-linux-armv7\"");
        assert_eq!(&res.bytes().await.unwrap()[..], b"pretend-armv7-binary");
    }
    let head =
        relay.http.head(relay.url("/functions/v1/download-connector?os=linux&arch=armv7l")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"], format!("\"{sum}\"").as_str(), "the reference connector's update check");
    let line = relay
        .http
        .get(relay.url("/functions/v1/download-connector?os=linux&arch=armv7l&checksum=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(line.text().await.unwrap(), format!("{sum}  relay-connector-linux-armv7\n"));
}

#[tokio::test]
async fn says_what_is_missing_and_lists_what_exists() {
    let relay = relay_with_dist().await;
    let (s, v) = relay.call("GET", "/functions/v1/download-connector?os=linux&arch=sparc64", None, None).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("unsupported_platform")));
    assert!(v["message"].as_str().unwrap().contains("linux/aarch64"));
    let (s, v) = relay.call("GET", "/functions/v1/download-connector?os=linux&arch=x86_64", None, None).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_built")));
    assert!(v["message"].as_str().unwrap().contains("scripts/build-release"));
    let (s, v) = relay.call("GET", "/functions/v1/download-connector", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["platforms"].as_array().unwrap().len(), 1);
    assert_eq!(v["platforms"][0]["name"], "linux-armv7");
    assert_eq!(v["platforms"][0]["size"], 20);
    assert!(v["build"].as_str().unwrap().contains("build-release"));
}

#[tokio::test]
async fn the_installer_carries_the_relay_s_url() {
    let relay = relay_with_dist().await;
    let res = relay.http.get(relay.url("/install.sh")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/x-shellscript"));
    let script = res.text().await.unwrap();
    assert!(script.starts_with("#!/bin/sh"));
    assert!(script.contains(&relay.base), "{script:.200}");
    assert!(!script.contains("__RELAY_URL__"));
    let ps1 = relay.http.get(relay.url("/install.ps1")).send().await.unwrap().text().await.unwrap();
    assert!(ps1.contains(&relay.base) && !ps1.contains("__RELAY_URL__"));
}

#[tokio::test]
async fn router_and_board_builds_answer_to_what_their_machines_say() {
    let dist = tempfile::tempdir().unwrap().keep();
    for name in ["linux-mipsel", "linux-mips", "linux-riscv64", "linux-armv5"] {
        std::fs::write(dist.join(format!("relay-connector-{name}")), name).unwrap();
    }
    let relay = Relay::start_with(Opts::default().arg("--dist-dir").arg(dist.to_str().unwrap())).await;
    // `uname -m` on the machine (install.sh turns a little-endian `mips` into `mipsel`), or
    // Go's GOARCH from the reference connector's update check.
    for (arch, build) in [
        ("mipsel", "linux-mipsel"),
        ("mipsle", "linux-mipsel"),
        ("mips", "linux-mips"),
        ("riscv64", "linux-riscv64"),
        ("armv5tel", "linux-armv5"),
        ("armv5tejl", "linux-armv5"),
    ] {
        let res = linux_build(&relay, arch).await;
        assert_eq!(res.status(), 200, "{arch}");
        assert_eq!(res.text().await.unwrap(), build, "{arch}");
    }
    let (s, v) = relay.call("GET", "/functions/v1/download-connector", None, None).await;
    assert_eq!(s, 200);
    let listed: Vec<(&str, &str)> = v["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["description"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("linux-armv5", "ARMv5 NAS and plug computers (Marvell Kirkwood, Orion)"),
            ("linux-mipsel", "little-endian MIPS routers (MediaTek MT7621, MT7628)"),
            ("linux-mips", "big-endian MIPS routers (Qualcomm Atheros ath79)"),
            ("linux-riscv64", "RISC-V boards (StarFive VisionFive 2, Milk-V)"),
        ]
    );
}
