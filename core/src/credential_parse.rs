//! Parsing [`CredentialKind`] and [`Mode`] from their names.
//!
//! Kept out of `credential.rs` so that module stays at the bottom of the crate: `error` names a
//! `CredentialKind`, and these parsers return an `Error`, so they sit above both.

use std::str::FromStr;

use crate::credential::{CredentialKind, Mode};
use crate::error::Error;

/// Parses `"personal"` or `"enterprise"`; anything else is an `InvalidArgument` error naming what was given.
///
/// ```
/// use cozefallback::{CredentialKind, ErrorKind};
/// assert_eq!("enterprise".parse::<CredentialKind>().unwrap(), CredentialKind::Enterprise);
/// assert_eq!("x".parse::<CredentialKind>().unwrap_err().kind(), ErrorKind::InvalidArgument);
/// ```
impl FromStr for CredentialKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "personal" => Ok(CredentialKind::Personal),
            "enterprise" => Ok(CredentialKind::Enterprise),
            other => Err(Error::invalid_argument(format!(
                "unknown credential {other:?}: expected \"personal\" or \"enterprise\""
            ))),
        }
    }
}

/// Parses a mode's snake_case name; anything else is a `Config` error on the field `mode`.
///
/// ```
/// use cozefallback::{ErrorKind, Mode};
/// assert_eq!("personal_only".parse::<Mode>().unwrap(), Mode::PersonalOnly);
/// assert_eq!("sideways".parse::<Mode>().unwrap_err().kind(), ErrorKind::Config);
/// ```
impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "personal_first" => Ok(Mode::PersonalFirst),
            "enterprise_first" => Ok(Mode::EnterpriseFirst),
            "personal_only" => Ok(Mode::PersonalOnly),
            "enterprise_only" => Ok(Mode::EnterpriseOnly),
            other => Err(Error::config(
                "mode",
                format!(
                    "unknown mode {other:?}; expected personal_first, enterprise_first, personal_only or enterprise_only"
                ),
            )),
        }
    }
}
