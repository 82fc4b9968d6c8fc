//! The UI's static files (CSS, JavaScript), compiled into the binary: nothing is fetched from
//! another host, and nothing needs a Node toolchain to build.

/// A static file: its content type and bytes.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// Every asset by the name it is served under (`/ui/assets/{name}`).
pub const ALL: &[(&str, Asset)] = &[
    (
        "app.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: CSS.as_bytes(),
        },
    ),
    (
        "app.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: JS.as_bytes(),
        },
    ),
];

/// The asset served as `name`, if any.
pub fn get(name: &str) -> Option<Asset> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}
