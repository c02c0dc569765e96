//! Python objects <-> JSON values.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};
use serde_json::Value;

/// A JSON-able Python object (dict, list, tuple, str, int, float, bool, None, or any mapping) as a JSON value
/// for a request body. A value JSON cannot hold raises the library's `InvalidArgumentError` (a `ValueError`)
/// naming where it sits in the body (`json["messages"][0]["content"]`) and what it is.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json_at(obj, &mut Vec::new())
}

/// One step of the path to a value inside a request body.
enum Seg {
    Key(String),
    Index(usize),
}

/// `InvalidArgumentError("json body value json[..]: {what}")`.
fn bad_body(py: Python<'_>, path: &[Seg], what: &str) -> PyErr {
    let mut at = String::from("json");
    for seg in path {
        match seg {
            Seg::Key(k) => at.push_str(&format!("[{}]", Value::String(k.clone()))),
            Seg::Index(i) => at.push_str(&format!("[{i}]")),
        }
    }
    crate::errors::simple(
        py,
        "invalid_argument",
        &format!("the JSON body cannot be sent: {at} {what}"),
    )
}

fn to_json_at(obj: &Bound<'_, PyAny>, path: &mut Vec<Seg>) -> PyResult<Value> {
    let py = obj.py();
    if path.len() > 256 {
        return Err(bad_body(py, path, "is nested more than 256 levels deep"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.extract::<bool>()?));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(bad_body(py, path, "is an integer outside -2**63..2**64-1"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                bad_body(
                    py,
                    path,
                    &format!("is {}, which JSON cannot hold", f.value()),
                )
            });
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return object_to_json(d.iter(), path);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return array_to_json(l.iter(), path);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return array_to_json(t.iter(), path);
    }
    // Other mappings (e.g. a MappingProxy or a user's Mapping class).
    if obj.hasattr("items")? {
        let d = PyDict::new(py);
        for item in obj.call_method0("items")?.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            d.set_item(k, v)?;
        }
        return object_to_json(d.iter(), path);
    }
    let ty = obj.get_type().name()?;
    Err(bad_body(
        py,
        path,
        &format!("is of type {ty}; expected a dict, list, tuple, str, int, float, bool or None"),
    ))
}

fn object_to_json<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    path: &mut Vec<Seg>,
) -> PyResult<Value> {
    let mut map = serde_json::Map::new();
    for (k, v) in items {
        // As json.dumps: str keys, and int, float, bool and None keys as their JSON text.
        let key = if let Ok(s) = k.cast::<PyString>() {
            s.to_cow()?.into_owned()
        } else if k.is_none() {
            "null".to_string()
        } else if k.is_instance_of::<PyBool>() {
            if k.extract::<bool>()? {
                "true"
            } else {
                "false"
            }
            .to_string()
        } else if k.is_instance_of::<PyInt>() || k.is_instance_of::<PyFloat>() {
            k.str()?.to_cow()?.into_owned()
        } else {
            let ty = k.get_type().name()?;
            return Err(bad_body(
                k.py(),
                path,
                &format!("has a key of type {ty}; keys must be str"),
            ));
        };
        path.push(Seg::Key(key.clone()));
        let value = to_json_at(&v, path);
        path.pop();
        map.insert(key, value?);
    }
    Ok(Value::Object(map))
}

fn array_to_json<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    path: &mut Vec<Seg>,
) -> PyResult<Value> {
    let mut out = Vec::new();
    for (i, v) in items.enumerate() {
        path.push(Seg::Index(i));
        let value = to_json_at(&v, path);
        path.pop();
        out.push(value?);
    }
    Ok(Value::Array(out))
}

/// A JSON value as Python objects.
pub fn from_json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for v in a {
                list.append(from_json(py, v)?)?;
            }
            list.into_any()
        }
        Value::Object(o) => {
            let dict = PyDict::new(py);
            for (k, v) in o {
                dict.set_item(k, from_json(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Deepest nesting accepted in a config (the schema itself is three levels deep).
const MAX_CONFIG_DEPTH: usize = 32;

/// A config dict (or any mapping) as JSON for the core. A value JSON cannot hold (bytes, a set, an int past
/// 64 bits, NaN, an arbitrary object) is a config error naming its dotted path (`personal.token`,
/// `fallback.codes[1]`); the core masks a token that appears in that path.
pub fn config_to_json(obj: &Bound<'_, PyAny>) -> Result<Value, cozefallback::Error> {
    config_value(obj, "", 0)
}

fn field_of(path: &str) -> &str {
    if path.is_empty() { "config" } else { path }
}

fn config_value(
    obj: &Bound<'_, PyAny>,
    path: &str,
    depth: usize,
) -> Result<Value, cozefallback::Error> {
    let fail = |what: String| cozefallback::Error::config(field_of(path), what);
    let py_fail = |e: PyErr| fail(format!("could not be read: {e}"));
    if depth > MAX_CONFIG_DEPTH {
        return Err(fail(format!(
            "is nested more than {MAX_CONFIG_DEPTH} levels deep"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow().map_err(py_fail)?.into_owned()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy().map_err(py_fail)?));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Value::from(i)),
            Err(_) => {
                let digits = obj.str().map(|s| s.to_string()).unwrap_or_default();
                let shown = if digits.len() <= 40 {
                    digits
                } else {
                    format!("an integer of {} digits", digits.len())
                };
                Err(fail(format!(
                    "expected an integer from -2**63 to 2**63-1, found {shown}"
                )))
            }
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| fail(format!("expected a finite number, found {v}")));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return config_object(d.iter(), path, depth);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, v) in obj.try_iter().map_err(py_fail)?.enumerate() {
            let v = v.map_err(py_fail)?;
            items.push(config_value(
                &v,
                &format!("{}[{i}]", field_of(path)),
                depth + 1,
            )?);
        }
        return Ok(Value::Array(items));
    }
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Err(fail(
            "expected a str, found bytes (decode them, e.g. with .decode())".to_string(),
        ));
    }
    if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() {
        return Err(fail("expected a list, found a set".to_string()));
    }
    // A path (`private_key_file=Path(...)`) is its string; another mapping is read through `items()`.
    if obj.hasattr("__fspath__").map_err(py_fail)? {
        let p = obj.call_method0("__fspath__").map_err(py_fail)?;
        return config_value(&p, path, depth);
    }
    if obj.hasattr("items").map_err(py_fail)? {
        let d = PyDict::new(obj.py());
        for item in obj
            .call_method0("items")
            .and_then(|i| i.try_iter())
            .map_err(py_fail)?
        {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                item.and_then(|i| i.extract()).map_err(py_fail)?;
            d.set_item(k, v).map_err(py_fail)?;
        }
        return config_object(d.iter(), path, depth);
    }
    let type_name = obj
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string());
    Err(fail(format!(
        "expected a JSON value (str, int, float, bool, None, list or dict), found {type_name}"
    )))
}

fn config_object<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    path: &str,
    depth: usize,
) -> Result<Value, cozefallback::Error> {
    let mut map = serde_json::Map::new();
    for (k, v) in items {
        let Ok(key) = k.cast::<PyString>() else {
            let shown = k.repr().map(|r| r.to_string()).unwrap_or_default();
            return Err(cozefallback::Error::config(
                field_of(path),
                format!("expected str keys, found the key {shown}"),
            ));
        };
        let key = key.to_string();
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        map.insert(key, config_value(&v, &child, depth + 1)?);
    }
    Ok(Value::Object(map))
}
