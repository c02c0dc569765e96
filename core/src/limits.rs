//! Range checks for numbers that reach the core from a binding (a Python float, a JavaScript number, a C
//! integer). Every binding converts through these, so a timeout of `1e30`, `NaN` or `-1` is refused the same way
//! everywhere, as [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the parameter, instead
//! of panicking inside `Duration::from_secs_f64`.

use std::time::Duration;

use crate::config::{Config, CredentialConfig};
use crate::error::{Error, Result};

/// The longest timeout a caller may ask for: one day. Longer waits are never what a Coze call wants.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// The latest Unix time accepted as a token's `expires_at`: the last second of the year 9999. Later values
/// cannot be represented as a point in time on every platform.
pub const MAX_UNIX_TIME: u64 = 253_402_300_799;

/// The longest a learned route may be remembered (`fallback.sticky_ttl_secs`): one year.
pub const MAX_STICKY_TTL_SECS: u64 = 365 * 86_400;

/// The longest pause between two device-flow polls (`interval`): one hour.
pub const MAX_POLL_INTERVAL_SECS: u64 = 3_600;

const MAX_TIMEOUT_MS: u64 = MAX_TIMEOUT.as_secs() * 1000;

/// A timeout given in seconds (Python's `timeout=`), checked: finite, greater than 0, at most [`MAX_TIMEOUT`].
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cozefallback::timeout_from_secs("timeout", 1.5).unwrap(), Duration::from_millis(1500));
/// let err = cozefallback::timeout_from_secs("timeout", 1e30).unwrap_err();
/// assert_eq!(err.kind(), cozefallback::ErrorKind::InvalidArgument);
/// assert!(err.message().contains("timeout"));
/// ```
pub fn timeout_from_secs(name: &str, secs: f64) -> Result<Duration> {
    checked_timeout(name, secs, 1.0, "seconds")
}

/// A timeout given in milliseconds (Node's `timeoutMs`, C's `timeout_ms`, Go's `time.Duration` in ms), checked
/// like [`timeout_from_secs`].
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cozefallback::timeout_from_millis("timeoutMs", 250.0).unwrap(), Duration::from_millis(250));
/// assert!(cozefallback::timeout_from_millis("timeoutMs", f64::NAN).is_err());
/// assert!(cozefallback::timeout_from_millis("timeoutMs", 0.0).is_err());
/// ```
pub fn timeout_from_millis(name: &str, millis: f64) -> Result<Duration> {
    checked_timeout(name, millis, 1000.0, "milliseconds")
}

/// A timeout given as whole milliseconds (C's `uint64_t timeout_ms`, Go's duration), checked like
/// [`timeout_from_millis`] but without a float in between, so the message shows the exact value given.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cozefallback::timeout_from_whole_millis("timeout_ms", 250).unwrap(), Duration::from_millis(250));
/// let err = cozefallback::timeout_from_whole_millis("timeout_ms", u64::MAX).unwrap_err();
/// assert!(err.message().ends_with("got 18446744073709551615"), "{err}");
/// ```
pub fn timeout_from_whole_millis(name: &str, millis: u64) -> Result<Duration> {
    if millis == 0 || millis > MAX_TIMEOUT_MS {
        return Err(Error::invalid_argument(format!(
            "{name} must be a number of milliseconds greater than 0 and at most {MAX_TIMEOUT_MS}, got {millis}"
        )));
    }
    Ok(Duration::from_millis(millis))
}

/// A whole number in `min..=max` (a count, a limit, a port), checked before it is cast: not NaN, not infinite,
/// no fraction, in range.
///
/// ```
/// assert_eq!(cozefallback::whole_number("limit", 20.0, 1, 50).unwrap(), 20);
/// assert!(cozefallback::whole_number("limit", 2f64.powi(64), 1, 50).is_err());
/// assert!(cozefallback::whole_number("limit", 1.5, 1, 50).is_err());
/// ```
pub fn whole_number(name: &str, value: f64, min: u64, max: u64) -> Result<u64> {
    // `max as f64` rounds up for values near u64::MAX; the comparison below is still exact for our ranges.
    if !value.is_finite() || value.fract() != 0.0 || value < min as f64 || value > max as f64 {
        return Err(Error::invalid_argument(format!(
            "{name} must be a whole number from {min} to {max}, got {}",
            describe(value)
        )));
    }
    Ok(value as u64)
}

/// A number of seconds handed back from a device-flow start (`expires_in`, `interval` of a
/// [`DeviceCode`](crate::DeviceCode) a binding rebuilt from the caller's object), checked: a whole number from 1
/// to one day ([`MAX_TIMEOUT`]), so the wait it drives can neither overflow nor spin.
///
/// ```
/// assert_eq!(cozefallback::device_seconds("interval", 5.0).unwrap(), 5);
/// assert!(cozefallback::device_seconds("expiresIn", 0.0).is_err());
/// assert!(cozefallback::device_seconds("expiresIn", 1e30).is_err());
/// ```
pub fn device_seconds(name: &str, value: f64) -> Result<u64> {
    whole_number(name, value, 1, MAX_TIMEOUT.as_secs())
}

/// The numbers of a device code, checked before polling with them: `expires_in` (seconds the code lives) from
/// 1 to one day, `interval` (seconds between polls) from 1 to [`MAX_POLL_INTERVAL_SECS`]. Returns them as
/// whole seconds.
///
/// ```
/// assert_eq!(cozefallback::device_code_numbers(600.0, 5.0).unwrap(), (600, 5));
/// let err = cozefallback::device_code_numbers(600.0, f64::NAN).unwrap_err();
/// assert!(err.message().starts_with("interval must be"), "{err}");
/// ```
pub fn device_code_numbers(expires_in: f64, interval: f64) -> Result<(u64, u64)> {
    Ok((
        whole_number("expires_in", expires_in, 1, MAX_TIMEOUT.as_secs())?,
        whole_number("interval", interval, 1, MAX_POLL_INTERVAL_SECS)?,
    ))
}

/// Upper bounds of the configuration's numbers, each refused as a config error naming its field: past them a
/// time computation would overflow (and panic) at the first request instead of failing at start-up.
pub(crate) fn check_config(config: &Config) -> Result<()> {
    let t = &config.timeouts;
    let r = &config.retry;
    for (field, value) in [
        ("timeouts.connect_ms", t.connect_ms),
        ("timeouts.first_byte_ms", t.first_byte_ms),
        ("timeouts.idle_ms", t.idle_ms),
        ("timeouts.total_ms", t.total_ms),
        ("retry.base_delay_ms", r.base_delay_ms),
        ("retry.max_delay_ms", r.max_delay_ms),
    ] {
        at_most(field, value, MAX_TIMEOUT_MS, "milliseconds (one day)")?;
    }
    at_most(
        "fallback.sticky_ttl_secs",
        config.fallback.sticky_ttl_secs,
        MAX_STICKY_TTL_SECS,
        "seconds (one year)",
    )?;
    for (side, cred) in [
        ("personal", &config.personal),
        ("enterprise", &config.enterprise),
    ] {
        if let Some(CredentialConfig::Oauth {
            expires_at: Some(at),
            ..
        }) = cred
        {
            at_most(
                &format!("{side}.expires_at"),
                *at,
                MAX_UNIX_TIME,
                "(a Unix time in seconds, at the latest 9999-12-31)",
            )?;
        }
    }
    Ok(())
}

fn at_most(field: &str, value: u64, max: u64, unit: &str) -> Result<()> {
    if value > max {
        return Err(Error::config(
            field,
            format!("must be at most {max} {unit}, got {value}"),
        ));
    }
    Ok(())
}

fn checked_timeout(name: &str, value: f64, per_second: f64, unit: &str) -> Result<Duration> {
    let max = MAX_TIMEOUT.as_secs_f64() * per_second;
    if !value.is_finite() || value <= 0.0 || value > max {
        return Err(Error::invalid_argument(format!(
            "{name} must be a number of {unit} greater than 0 and at most {max}, got {}",
            describe(value)
        )));
    }
    Ok(Duration::from_secs_f64(value / per_second))
}

fn describe(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "infinity" } else { "-infinity" }.to_string()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_timeouts_are_refused_with_the_parameter_named() {
        for bad in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e30,
            2f64.powi(64),
        ] {
            let err = timeout_from_secs("timeout", bad).unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::InvalidArgument, "{bad}");
            assert!(
                err.message.starts_with("timeout must be"),
                "{}",
                err.message
            );
            assert!(timeout_from_millis("timeoutMs", bad).is_err(), "{bad}");
        }
        assert_eq!(timeout_from_secs("timeout", 86_400.0).unwrap(), MAX_TIMEOUT);
    }

    #[test]
    fn whole_numbers_are_checked_before_the_cast() {
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e30, 2f64.powi(64), 0.5] {
            assert!(whole_number("n", bad, 0, u32::MAX as u64).is_err(), "{bad}");
        }
        assert_eq!(whole_number("n", 0.0, 0, 10).unwrap(), 0);
    }

    #[test]
    fn device_seconds_refuse_zero_and_what_would_overflow_a_deadline() {
        for bad in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e30,
            2f64.powi(64),
            2.5,
        ] {
            let err = device_seconds("interval", bad).unwrap_err();
            assert!(
                err.message.starts_with("interval must be"),
                "{}",
                err.message
            );
        }
        assert_eq!(device_seconds("interval", 86_400.0).unwrap(), 86_400);
    }

    #[test]
    fn device_code_numbers_are_refused_out_of_range() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e30, 2f64.powi(64)] {
            let err = device_code_numbers(bad, 5.0).unwrap_err();
            assert!(err.message.starts_with("expires_in must be"), "{err}");
            let err = device_code_numbers(600.0, bad).unwrap_err();
            assert!(err.message.starts_with("interval must be"), "{err}");
        }
    }

    #[test]
    fn config_numbers_past_their_bound_name_the_field() {
        let base = r#"{"personal": {"type": "pat", "token": "pat_x"}"#;
        for (json, field) in [
            (
                r#""timeouts": {"total_ms": 18446744073709551615}"#,
                "timeouts.total_ms",
            ),
            (
                r#""timeouts": {"connect_ms": 86400001}"#,
                "timeouts.connect_ms",
            ),
            (
                r#""retry": {"max_delay_ms": 18446744073709551615}"#,
                "retry.max_delay_ms",
            ),
            (
                r#""fallback": {"sticky_ttl_secs": 18446744073709551615}"#,
                "fallback.sticky_ttl_secs",
            ),
        ] {
            let config = Config::from_json(&format!("{base}, {json}}}")).unwrap();
            let err = config.validate().unwrap_err();
            assert_eq!(err.field(), Some(field), "{err}");
            assert!(err.message.contains("must be at most"), "{err}");
        }
        let oauth = r#"{"enterprise": {"type": "oauth", "client_id": "1", "access_token": "czu_abc",
            "expires_at": 18446744073709551615}}"#;
        let err = Config::from_json(oauth).unwrap().validate().unwrap_err();
        assert_eq!(err.field(), Some("enterprise.expires_at"), "{err}");
    }
}
