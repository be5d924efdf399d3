//! The browser UI, embedded in the binary: one table of assets (URL path, content, content type),
//! each file compiled in with `include_str!`, and the routes that serve them. The page is native
//! ES modules with no build step: `/app.js` is the entry and imports the feature modules under
//! `/js/`. Security headers are added by `http`'s middleware, not here.
//!
//! The tests check that every module a UI module imports is in the table, so a module that is
//! added to `ui/js/` but not here fails the build's tests rather than a browser.

use axum::{
    Router,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};

/// One embedded file of the UI.
#[derive(Debug)]
pub(crate) struct Asset {
    /// The URL path it is served at.
    pub(crate) path: &'static str,
    pub(crate) body: &'static str,
    pub(crate) content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// `asset!("/app.css", "app.css", CSS)`: `ui/app.css`, compiled in, served at `/app.css`.
macro_rules! asset {
    ($path:expr, $file:expr, $content_type:expr) => {
        Asset {
            path: $path,
            body: include_str!(concat!("../ui/", $file)),
            content_type: $content_type,
        }
    };
}

/// A feature module: `js!("rooms")` is `ui/js/rooms.js`, served at `/js/rooms.js`.
macro_rules! js {
    ($name:literal) => {
        asset!(
            concat!("/js/", $name, ".js"),
            concat!("js/", $name, ".js"),
            JS
        )
    };
}

/// Every file of the UI. `/` is the page; everything else is served at its own path.
pub(crate) const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/app.js", "app.js", JS),
    asset!("/app.css", "app.css", CSS),
    asset!("/accounts.css", "accounts.css", CSS),
    asset!("/theme.css", "theme.css", CSS),
    asset!("/support.css", "support.css", CSS),
    asset!("/favicon.svg", "favicon.svg", SVG),
    js!("account"),
    js!("account-dialog"),
    js!("composer"),
    js!("connection"),
    js!("dom"),
    js!("edits"),
    js!("ephemeral"),
    js!("identity"),
    js!("limits"),
    js!("messages"),
    js!("notices"),
    js!("outbox"),
    js!("participants"),
    js!("presence"),
    js!("replies"),
    js!("rooms"),
    js!("search"),
    js!("sidebar"),
    js!("storage"),
    js!("theme"),
    js!("timed"),
    js!("votes"),
    js!("typing"),
    js!("receipts"),
    js!("unread"),
    js!("support"),
    js!("support-actions"),
    js!("support-desk"),
    js!("support-queue"),
];

impl Asset {
    fn response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type),
                // Revalidated on every load, so a new server's UI is never mixed with an old one.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            self.body,
        )
            .into_response()
    }
}

/// One GET route per asset.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move || async move { asset.response() }))
    })
}

#[cfg(test)]
mod theme_tests;

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    /// The specifiers of static `import … from '…'` and `import '…'` statements.
    fn imports(source: &str) -> Vec<&str> {
        let mut found = Vec::new();
        for marker in ["from '", "from \"", "import '", "import \""] {
            let quote = &marker[marker.len() - 1..];
            let mut rest = source;
            while let Some(at) = rest.find(marker) {
                rest = &rest[at + marker.len()..];
                if let Some(end) = rest.find(quote) {
                    found.push(&rest[..end]);
                }
            }
        }
        found
    }

    /// Resolves a relative specifier against the URL path of the module that imports it.
    fn resolve(importer: &str, specifier: &str) -> String {
        let mut parts: Vec<&str> = importer.split('/').filter(|p| !p.is_empty()).collect();
        parts.pop(); // the importing file itself
        for part in specifier.split('/') {
            match part {
                "." | "" => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        format!("/{}", parts.join("/"))
    }

    fn served(path: &str) -> Option<&'static Asset> {
        ASSETS.iter().find(|a| a.path == path)
    }

    #[test]
    fn every_imported_module_is_served_as_javascript() {
        let modules: Vec<&Asset> = ASSETS.iter().filter(|a| a.content_type == JS).collect();
        assert!(modules.len() > 5, "{modules:?}");
        for module in &modules {
            for specifier in imports(module.body) {
                assert!(
                    specifier.starts_with("./") || specifier.starts_with("../"),
                    "{}: import {specifier:?} is not relative (no bare imports without a bundler)",
                    module.path
                );
                let path = resolve(module.path, specifier);
                let asset = served(&path).unwrap_or_else(|| {
                    panic!(
                        "{} imports {specifier:?}, but {path} is not in ui::ASSETS",
                        module.path
                    )
                });
                assert_eq!(asset.content_type, JS, "{path}");
            }
        }
    }

    #[test]
    fn every_module_file_is_in_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/js");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".js") {
                let path = format!("/js/{name}");
                assert!(served(&path).is_some(), "ui/js/{name} is not in ui::ASSETS");
            }
        }
    }

    #[test]
    fn the_page_loads_the_entry_as_a_module() {
        let page = served("/").unwrap().body;
        assert!(
            page.contains(r#"<script type="module" src="/app.js"></script>"#),
            "{page}"
        );
    }

    #[test]
    fn the_import_parser_and_resolver() {
        let source = "import { a,\n  b } from './js/x.js';\nimport \"../y.js\";\nconst s = 'from';";
        assert_eq!(imports(source), ["./js/x.js", "../y.js"]);
        assert_eq!(resolve("/app.js", "./js/x.js"), "/js/x.js");
        assert_eq!(resolve("/js/rooms.js", "./dom.js"), "/js/dom.js");
        assert_eq!(resolve("/js/rooms.js", "../app.js"), "/app.js");
    }

    #[tokio::test]
    async fn each_asset_is_served_with_its_content_type() {
        for asset in ASSETS {
            let request = Request::get(asset.path).body(Body::empty()).unwrap();
            let response = routes::<()>().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200, "{}", asset.path);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                asset.content_type,
                "{}",
                asset.path
            );
        }
    }
}
