//! The budget page at `/admission/ui`: one HTML document with its CSS and JS inlined, embedded in
//! the binary (`include_str!`), no external resources (works offline, behind any firewall).
//!
//! It polls `GET /admission/v1/groups?tree=1` and `GET /admission/v1/decisions` every few seconds
//! and draws: the root's headroom to the limit (`#headroom`), a squarified treemap of groups and
//! apps sized by persisted bytes (`#treemap`; small apps arrive merged into one "other" leaf per
//! group, so 10,000 apps stay a few hundred rectangles), the ZooKeeper footprint (`#footprint`:
//! the nodes Marathon keeps for its apps, version copies included, at most), quota bars
//! (`#quotas`) and the latest decisions (`#decisions`); and, every 30 s, the way out
//! (`GET /admission/v1/way-out`, `#wayout`: the first steps to the warning level and what each
//! frees); and, every 15 s, the binding node's size over time (`GET /admission/v1/history`,
//! `#history`: an inline SVG chart with the warning level, the wall and the limit, and `#growth`:
//! the growth of the last days and the days left).

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

const HTML: &str = include_str!("index.html");
const CSS: &str = include_str!("style.css");
const JS: &str = include_str!("app.js");

fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| HTML.replace("/*STYLE*/", CSS).replace("/*SCRIPT*/", JS))
}

/// `/admission/ui` and `/admission/ui/index.html`; anything else under it is a 404.
pub fn serve(rest: &[&str]) -> Response<Bytes> {
    match rest {
        [] | ["index.html"] => {
            let mut r = Response::new(Bytes::from_static(page().as_bytes()));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // Everything is inline; nothing may be loaded from elsewhere.
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
                ),
            );
            r
        }
        _ => proxy::marathon_error(StatusCode::NOT_FOUND, "marathon-admission: the budget page is /admission/ui"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained() {
        let p = page();
        assert!(p.contains("function squarify"));
        assert!(p.contains("#treemap"));
        assert!(p.contains("id=\"wayout\"") && p.contains("/admission/v1/way-out"));
        assert!(p.contains("id=\"history\"") && p.contains("/admission/v1/history"));
        assert!(p.contains("id=\"footprint\"") && p.contains("function drawFootprint"));
        assert!(!p.contains("/*STYLE*/") && !p.contains("/*SCRIPT*/"));
        for external in ["http://", "https://", "src=\"/", "href=\"/", "@import"] {
            assert!(!p.contains(external), "external resource {external:?} in the page");
        }
        assert_eq!(serve(&[]).status(), 200);
        assert_eq!(serve(&["x.js"]).status(), 404);
    }
}
