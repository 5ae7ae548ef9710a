//! Serves the web app embedded at build time (see `build.rs`): static files with their
//! content type and an ETag, and `index.html` for the app's routes (`/dashboard`,
//! `/project/…`, …), which the page's own router then renders. HTML goes out with a strict
//! Content-Security-Policy and no framing.

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// First path segments that are never the web app.
const RESERVED: &[&str] = &["api", "functions", "connect", "session", "healthz", "readyz", "metrics"];

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; \
     font-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

pub fn routes() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::get().and(warp::path::full()).and(warp::header::optional::<String>("if-none-match")).and_then(
        |path: warp::path::FullPath, etag: Option<String>| async move {
            serve(path.as_str(), etag.as_deref()).ok_or_else(warp::reject::not_found)
        },
    )
}

fn asset(path: &str) -> Option<&'static (&'static str, &'static [u8], &'static str)> {
    ASSETS.iter().find(|(p, _, _)| *p == path)
}

fn serve(path: &str, if_none_match: Option<&str>) -> Option<Response> {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if RESERVED.contains(&first) || (first == "auth" && path.starts_with("/auth/v1")) {
        return None;
    }
    // A file if there is one, else the app's shell for its client-side routes.
    let (name, body, etag) = asset(path).or_else(|| (!path.contains('.')).then(|| asset("/index.html")).flatten())?;
    let mut res = if if_none_match == Some(*etag) {
        let mut r = Response::new(Default::default());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new((*body).into())
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    h.insert(header::ETAG, HeaderValue::from_static(etag));
    // Revalidate every time (cheap with the ETag): a new relay version must never meet stale JS.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if name.ends_with(".html") {
        h.insert("content-security-policy", HeaderValue::from_static(CSP));
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    }
    Some(res)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        "sh" => "text/x-shellscript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_routes_get_the_shell_and_api_paths_do_not() {
        assert!(serve("/", None).is_some());
        assert!(serve("/dashboard", None).is_some());
        assert!(serve("/project/abc", None).is_some());
        assert!(serve("/auth", None).is_some());
        assert!(serve("/api/v1/nope", None).is_none());
        assert!(serve("/auth/v1/nope", None).is_none());
        assert!(serve("/missing.js", None).is_none());
    }

    #[test]
    fn etag_revalidation() {
        let (_, _, etag) = asset("/index.html").unwrap();
        let r = serve("/", Some(etag)).unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }
}
