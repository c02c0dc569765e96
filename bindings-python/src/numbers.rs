//! Python numbers -> the core's range checks (`cozefallback::timeout_from_secs`, `device_code_numbers`).
//!
//! The binding only turns an int or a float into an `f64` without raising: an int too large for a float becomes
//! an infinity of its sign, which the core then refuses like any other out-of-range value. What is not a number
//! at all (a str, a bool, None) is refused here as InvalidArgument naming the parameter.

use cozefallback::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};

/// `obj` as an `f64` for the range check, or InvalidArgument when it is not a number.
pub fn to_f64(obj: &Bound<'_, PyAny>, name: &str, unit: &str) -> Result<f64, Error> {
    let not_a_number = || {
        let type_name = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".to_string(), |n| n.to_string());
        Error::invalid_argument(format!(
            "{name} must be a number of {unit}, got {type_name}"
        ))
    };
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyString>() {
        return Err(not_a_number());
    }
    match obj.extract::<f64>() {
        Ok(v) => Ok(v),
        // PyLong_AsDouble overflows past ~1.8e308: the value is out of range whatever the bound.
        Err(_) if obj.is_instance_of::<PyInt>() => {
            let negative = obj.lt(0).unwrap_or(false);
            Ok(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        Err(_) => Err(not_a_number()),
    }
}

/// A call's `timeout=` in seconds, checked by the core (finite, > 0, at most one day).
pub fn timeout(obj: &Bound<'_, PyAny>) -> Result<std::time::Duration, Error> {
    cozefallback::timeout_from_secs("timeout", to_f64(obj, "timeout", "seconds")?)
}

/// A device code's `expires_in` and `interval`, checked by the core.
pub fn device_code(
    expires_in: &Bound<'_, PyAny>,
    interval: &Bound<'_, PyAny>,
) -> Result<(u64, u64), Error> {
    cozefallback::device_code_numbers(
        to_f64(expires_in, "expires_in", "seconds")?,
        to_f64(interval, "interval", "seconds")?,
    )
}
