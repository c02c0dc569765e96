//! Range checks for numbers that reach the core from a binding (a Python float, a JavaScript number, a C
//! integer). Every binding converts through these, so a timeout of `1e30`, `NaN` or `-1` is refused the same way
//! everywhere, as [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the parameter, instead
//! of panicking inside `Duration::from_secs_f64`.

use std::time::Duration;

use crate::error::{Error, Result};

/// The longest timeout a caller may ask for: one day. Longer waits are never what a Coze call wants.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

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
}
