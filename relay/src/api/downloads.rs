//! Connector downloads and the one-line installer.
//!
//! `GET|HEAD /functions/v1/download-connector?os=&arch=` serves `relay-connector-<name>` from
//! the dist directory, as `targets/matrix` names the builds (`arch` may be any alias listed
//! there: `uname -m` values, or Go's names, which the reference connector's update check
//! sends). The ETag is the binary's hex SHA-256, so that update check works. `&checksum=1`
//! answers with a `sha256sum` line instead, for downloaders that cannot read headers (busybox
//! wget). `GET /install.sh` and `GET /install.ps1` are `targets/install.sh` and
//! `targets/windows/install.ps1` with this relay's public URL filled in.

use super::error::{ApiError, ApiResult};
use super::filters::{Origin, origin, with};
use crate::app::App;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;
use utoipa::ToSchema;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

const MATRIX: &str = include_str!("../../../targets/matrix");
const INSTALLER: &str = include_str!("../../../targets/install.sh");
const WINDOWS_INSTALLER: &str = include_str!("../../../targets/windows/install.ps1");

/// One line of `targets/matrix`.
struct Target {
    name: &'static str,
    os: &'static str,
    arch: &'static str,
    aliases: Vec<&'static str>,
    /// The `for` column: the machines the build is for.
    description: &'static str,
}

impl Target {
    fn file(&self) -> String {
        let ext = if self.os == "windows" { ".exe" } else { "" };
        format!("relay-connector-{}{ext}", self.name)
    }
}

static TARGETS: LazyLock<Vec<Target>> = LazyLock::new(|| {
    MATRIX
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            // eight columns, then free text
            let mut f = Vec::with_capacity(8);
            let mut rest = l;
            while f.len() < 8 {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                f.push(&rest[..end]);
                rest = rest[end..].trim_start();
            }
            Target { name: f[0], os: f[2], arch: f[3], aliases: f[4].split(',').collect(), description: rest }
        })
        .collect()
});

/// A dist file's modification time, size and SHA-256.
type Sum = (SystemTime, u64, String);

/// SHA-256 of dist files, recomputed only when a file changes.
static SUMS: LazyLock<Mutex<HashMap<PathBuf, Sum>>> = LazyLock::new(Default::default);

#[derive(Serialize, ToSchema)]
pub struct Platform {
    pub name: String,
    /// The machines this build is for, e.g. "little-endian MIPS routers (MediaTek MT7621, MT7628)".
    pub description: String,
    pub os: String,
    pub arch: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct Platforms {
    /// The builds this relay has in its dist directory.
    pub platforms: Vec<Platform>,
    /// How to add builds.
    pub build: String,
}

/// The file's size and hex SHA-256, or `None` if it is not there.
async fn checksum(path: PathBuf) -> Option<(u64, String)> {
    let meta = tokio::fs::metadata(&path).await.ok().filter(|m| m.is_file())?;
    let mtime = meta.modified().ok()?;
    if let Some((t, len, sum)) = SUMS.lock().ok()?.get(&path)
        && *t == mtime
        && *len == meta.len()
    {
        return Some((*len, sum.clone()));
    }
    let bytes = tokio::fs::read(&path).await.ok()?;
    let sum = hex::encode(Sha256::digest(&bytes));
    SUMS.lock().ok()?.insert(path, (mtime, bytes.len() as u64, sum.clone()));
    Some((bytes.len() as u64, sum))
}

pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let download = warp::path!("functions" / "v1" / "download-connector")
        .and(warp::get().map(|| true).or(warp::head().map(|| false)).unify())
        .and(with(app))
        .and(origin(app))
        .and(warp::query::<HashMap<String, String>>())
        .then(download);
    let sh = warp::path!("install.sh")
        .and(warp::get())
        .and(origin(app))
        .map(|origin| installer(origin, INSTALLER, "text/x-shellscript; charset=utf-8"));
    let ps1 = warp::path!("install.ps1")
        .and(warp::get())
        .and(origin(app))
        .map(|origin| installer(origin, WINDOWS_INSTALLER, "text/plain; charset=utf-8"));
    any_of!(download, sh, ps1)
}

const BUILD_HINT: &str = "Unpack a release's privaclaw-connectors.tar.gz into <data-dir>/dist (the default \
     --dist-dir), or build connectors with scripts/build-release (it writes dist/) and start the relay with \
     --dist-dir pointing there.";

#[utoipa::path(get, path = "/functions/v1/download-connector", tag = "functions",
    params(("os" = Option<String>, Query, description = "`linux` or `windows`"),
           ("arch" = Option<String>, Query, description = "e.g. `x86_64`, `aarch64`, `armv7l` (any `uname -m` value or Go arch name)"),
           ("checksum" = Option<String>, Query, description = "`1`: answer with a `sha256sum` line instead of the binary")),
    responses((status = 200, description = "The binary (ETag and X-Checksum-Sha256: its hex SHA-256); without os/arch: the platforms available", body = Platforms),
              (status = 404, description = "No such build on this relay", body = super::error::ErrorBody)))]
pub(super) async fn download(
    get: bool,
    app: Arc<App>,
    origin: Origin,
    q: HashMap<String, String>,
) -> ApiResult<Response> {
    let dist = app.config.dist_dir();
    let (Some(os), Some(arch)) = (q.get("os"), q.get("arch")) else {
        let mut platforms = Vec::new();
        let base = origin;
        for t in TARGETS.iter() {
            if let Some((size, sha256)) = checksum(dist.join(t.file())).await {
                let url = format!("{base}/functions/v1/download-connector?os={}&arch={}", t.os, t.arch);
                platforms.push(Platform {
                    name: t.name.into(),
                    description: t.description.into(),
                    os: t.os.into(),
                    arch: t.arch.into(),
                    file: t.file(),
                    size,
                    sha256,
                    url,
                });
            }
        }
        return Ok(warp::reply::json(&Platforms { platforms, build: BUILD_HINT.into() }).into_response());
    };
    let (os, arch) = (os.to_ascii_lowercase(), arch.to_ascii_lowercase());
    let target = TARGETS
        .iter()
        .find(|t| t.os == os && (t.arch == arch || t.aliases.contains(&arch.as_str())))
        .ok_or_else(|| {
            let known: Vec<String> = TARGETS.iter().map(|t| format!("{}/{}", t.os, t.arch)).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unsupported_platform",
                format!("There is no connector build for {os}/{arch}. Builds exist for: {}.", known.join(", ")),
            )
        })?;
    let file = target.file();
    let path = dist.join(&file);
    let missing =
        || ApiError::new(StatusCode::NOT_FOUND, "not_built", format!("This relay has no {file} yet. {BUILD_HINT}"));
    let (size, sum) = checksum(path.clone()).await.ok_or_else(missing)?;
    let mut res = if q.get("checksum").is_some_and(|v| v == "1") {
        let mut r = Response::new(format!("{sum}  {file}\n").into());
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    } else {
        let body = if get { tokio::fs::read(&path).await.map_err(|_| missing())? } else { Vec::new() };
        let mut r = Response::new(body.into());
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        let disposition = format!("attachment; filename=\"{file}\"");
        h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("file names are ASCII"));
        r
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&format!("\"{sum}\"")).expect("hex"));
    h.insert("x-checksum-sha256", HeaderValue::from_str(&sum).expect("hex"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// An installer script with this relay's public URL filled in.
fn installer(origin: Origin, script: &str, content_type: &'static str) -> Response {
    let script = script.replace("__RELAY_URL__", &origin.0);
    let mut r = Response::new(script.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
