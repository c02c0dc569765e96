//! The two credentials a migrating workspace holds, and the routing modes over them.
//!
//! The bottom of the crate: this module uses no other crate module. Parsing them from text (which can fail
//! with an [`Error`](crate::Error)) lives one layer up, in `credential_parse.rs`.

use std::fmt;

/// Which of the two configured credentials served (or failed) a request.
///
/// ```
/// use cozefallback::CredentialKind;
/// assert_eq!(CredentialKind::Enterprise.as_str(), "enterprise");
/// assert_eq!(CredentialKind::Personal.other(), CredentialKind::Enterprise);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// The old credential of the personal edition.
    #[default]
    Personal,
    /// The new credential of the enterprise edition.
    Enterprise,
}

impl CredentialKind {
    /// `"personal"` or `"enterprise"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Personal => "personal",
            CredentialKind::Enterprise => "enterprise",
        }
    }
    /// The other credential.
    pub fn other(self) -> Self {
        match self {
            CredentialKind::Personal => CredentialKind::Enterprise,
            CredentialKind::Enterprise => CredentialKind::Personal,
        }
    }
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which credential a request tries first, and whether the other one may serve it.
///
/// ```
/// use cozefallback::Mode;
/// let mode: Mode = "enterprise_first".parse().unwrap();
/// assert_eq!(mode, Mode::EnterpriseFirst);
/// assert!("sideways".parse::<Mode>().unwrap_err().to_string().contains("mode"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Before and during the move: try the personal credential, fall back to the enterprise one.
    #[default]
    PersonalFirst,
    /// After the move: try the enterprise credential first.
    EnterpriseFirst,
    /// Only the personal credential (no fallback).
    PersonalOnly,
    /// Only the enterprise credential: the old one is retired.
    EnterpriseOnly,
}

impl Mode {
    /// The snake_case name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::PersonalFirst => "personal_first",
            Mode::EnterpriseFirst => "enterprise_first",
            Mode::PersonalOnly => "personal_only",
            Mode::EnterpriseOnly => "enterprise_only",
        }
    }

    /// The credentials this mode allows, preferred first.
    pub(crate) fn order(self) -> &'static [CredentialKind] {
        use CredentialKind::*;
        match self {
            Mode::PersonalFirst => &[Personal, Enterprise],
            Mode::EnterpriseFirst => &[Enterprise, Personal],
            Mode::PersonalOnly => &[Personal],
            Mode::EnterpriseOnly => &[Enterprise],
        }
    }

    pub(crate) fn from_index(i: u8) -> Mode {
        match i {
            1 => Mode::EnterpriseFirst,
            2 => Mode::PersonalOnly,
            3 => Mode::EnterpriseOnly,
            _ => Mode::PersonalFirst,
        }
    }

    pub(crate) fn index(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
