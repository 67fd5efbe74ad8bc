//! The standard library: `.pipe` modules embedded in the binary, imported as
//! `std.<name>`.

/// Every stdlib module: its name after `std.` and its text.
pub const MODULES: [(&str, &str); 3] = [
    ("models", include_str!("../../stdlib/models.pipe")),
    ("vision", include_str!("../../stdlib/vision.pipe")),
    ("tabular", include_str!("../../stdlib/tabular.pipe")),
];

/// The text of `std.<name>`, if there is such a module.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
