//! The page templates, compiled into the binary (`include_str!`), by name.

/// Every template: `(name, source)`.
pub const ALL: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("list.html", include_str!("../templates/list.html")),
    ("prompt.html", include_str!("../templates/prompt.html")),
    ("edit.html", include_str!("../templates/edit.html")),
    ("history.html", include_str!("../templates/history.html")),
    ("release.html", include_str!("../templates/release.html")),
    (
        "playground.html",
        include_str!("../templates/playground.html"),
    ),
    ("trash.html", include_str!("../templates/trash.html")),
    ("keys.html", include_str!("../templates/keys.html")),
];
