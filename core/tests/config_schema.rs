//! `core/config.schema.json` and the config parser agree: every object of the schema lists exactly the fields
//! the parser knows (the parser's own "unknown field" message names them), every property the schema offers is
//! accepted with a value of its type, every enum offers the parser's values, and the bounds the schema states are
//! the ones `Config::validate` enforces.

use std::collections::BTreeSet;

use cozefallback::Config;
use serde_json::{Map, Value, json};

const PROBE: &str = "zz_not_a_field";

fn schema() -> Value {
    Config::json_schema()
}

/// `#/$defs/NAME` -> the definition.
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("local $ref");
            &root["$defs"][name]
        }
        None => node,
    }
}

fn properties(node: &Value) -> BTreeSet<String> {
    node["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no properties in {node}"))
        .keys()
        .cloned()
        .collect()
}

/// The names between backticks after "expected one of" / "expected" in serde's unknown-field message.
fn names_in(message: &str, after: &str) -> BTreeSet<String> {
    let rest = &message[message
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {message:?}"))
        + after.len()..];
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn parse_error(doc: Value) -> String {
    match Config::from_json(&doc.to_string()) {
        Ok(_) => panic!("{doc} was accepted"),
        Err(e) => e.message().to_string(),
    }
}

/// The sections of the config that are objects of their own (fallback, retry, ...), by name.
fn sections(root: &Value) -> Vec<(String, &Value)> {
    root["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["type"] == "object")
        .map(|(k, v)| (k.clone(), v))
        .collect()
}

/// The credential variants (`pat`, `jwt`, `oauth`) the schema's `credential` offers.
fn credential_variants(root: &Value) -> Vec<(String, &Value)> {
    root["$defs"]["credential"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let def = resolve(root, r);
            let ty = def["properties"]["type"]["const"].as_str().unwrap();
            (ty.to_string(), def)
        })
        .collect()
}

/// A value of the property's type that the parser must take (the default or first example when there is one).
fn sample(prop: &Value) -> Value {
    if let Some(d) = prop.get("default").or_else(|| prop.pointer("/examples/0")) {
        return d.clone();
    }
    if let Some(e) = prop.get("enum") {
        return e[0].clone();
    }
    let ty = match &prop["type"] {
        Value::Array(types) => types[0].clone(),
        other => other.clone(),
    };
    match ty.as_str() {
        Some("string") => json!("x"),
        Some("integer") => json!(prop.get("minimum").and_then(Value::as_u64).unwrap_or(1)),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        None => json!("any value"),
        Some(other) => panic!("no sample for type {other}"),
    }
}

#[test]
fn the_schema_file_is_the_one_compiled_in() {
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.schema.json"))
            .unwrap();
    assert_eq!(on_disk, cozefallback::CONFIG_SCHEMA);
    let root = schema();
    assert_eq!(root["type"], "object");
    assert_eq!(root["additionalProperties"], false);
}

#[test]
fn the_top_level_fields_are_the_parsers() {
    let root = schema();
    let message = parse_error(json!({ PROBE: 1 }));
    let parser = names_in(&message, "expected one of");
    assert_eq!(
        properties(&root),
        parser,
        "schema (left) vs parser (right): {message}"
    );
}

#[test]
fn every_section_lists_exactly_the_parsers_fields() {
    let root = schema();
    let mut checked = Vec::new();
    for (name, section) in sections(&root) {
        assert_eq!(section["additionalProperties"], false, "{name}");
        let message = parse_error(json!({ name.clone(): { PROBE: 1 } }));
        assert!(message.contains(PROBE), "{name}: {message}");
        let parser = names_in(&message, "expected");
        assert_eq!(
            properties(section),
            parser,
            "`{name}`: schema (left) vs parser (right): {message}"
        );
        checked.push(name);
    }
    for expected in [
        "fallback",
        "retry",
        "timeouts",
        "tls",
        "conversations",
        "state",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} missing from the schema"
        );
    }
}

#[test]
fn every_credential_type_lists_exactly_the_parsers_fields() {
    let root = schema();
    let variants = credential_variants(&root);
    let types: BTreeSet<String> = variants.iter().map(|(t, _)| t.clone()).collect();
    let message = parse_error(json!({"personal": {"type": PROBE}}));
    assert_eq!(
        types,
        message
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|t| *t != PROBE)
            .map(str::to_string)
            .collect(),
        "credential types: {message}"
    );
    for (ty, def) in &variants {
        assert_eq!(def["additionalProperties"], false, "{ty}");
        let message = parse_error(json!({"personal": {"type": ty, PROBE: 1}}));
        let listed = message
            .split_once("credential takes ")
            .unwrap_or_else(|| panic!("{ty}: {message}"))
            .1;
        let parser: BTreeSet<String> = listed.split(", ").map(|s| s.trim().to_string()).collect();
        assert_eq!(
            properties(def),
            parser,
            "`{ty}`: schema (left) vs parser (right)"
        );
        // What the schema calls required, the parser asks for.
        for required in def["required"].as_array().unwrap() {
            let required = required.as_str().unwrap();
            if required == "type" {
                continue;
            }
            let mut cred = full_credential(def);
            cred.remove(required);
            let message = parse_error(json!({ "personal": cred }));
            assert!(
                message.contains(&format!("needs `{required}`")),
                "{ty}: {message}"
            );
        }
    }
}

/// A credential of this variant with every property the schema lists.
fn full_credential(def: &Value) -> Map<String, Value> {
    let mut cred = Map::new();
    for (k, prop) in def["properties"].as_object().unwrap() {
        let v = prop.get("const").cloned().unwrap_or_else(|| sample(prop));
        cred.insert(k.clone(), v);
    }
    // One mint target at a time (tested on its own in config.rs).
    cred.remove("enterprise_id");
    cred
}

#[test]
fn every_property_of_the_schema_is_accepted_with_a_value_of_its_type() {
    let root = schema();
    for (name, prop) in root["properties"].as_object().unwrap() {
        let prop = resolve(&root, prop);
        let value = if prop.get("oneOf").is_some() {
            let (_, pat) = &credential_variants(&root)[0];
            Value::Object(full_credential(pat))
        } else if prop["type"] == "object" {
            let mut section = Map::new();
            for (k, p) in prop["properties"].as_object().unwrap() {
                section.insert(k.clone(), sample(p));
            }
            Value::Object(section)
        } else {
            sample(prop)
        };
        let doc = json!({ name.clone(): value });
        if let Err(e) = Config::from_json(&doc.to_string()) {
            panic!("{doc}: {e}");
        }
    }
    for (ty, def) in credential_variants(&root) {
        let doc = json!({ "enterprise": full_credential(def) });
        if let Err(e) = Config::from_json(&doc.to_string()) {
            panic!("{ty}: {doc}: {e}");
        }
    }
}

#[test]
fn every_enum_offers_the_parsers_values() {
    let root = schema();
    let conversations = &root["properties"]["conversations"]["properties"];
    let enums = [
        ("mode", &root["properties"]["mode"], json!({"mode": PROBE})),
        (
            "conversations.on_stranded",
            &conversations["on_stranded"],
            json!({"conversations": {"on_stranded": PROBE}}),
        ),
    ];
    for (name, prop, doc) in enums {
        let schema_values: BTreeSet<String> = prop["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let message = parse_error(doc);
        let parser = names_in(&message, "expected");
        assert_eq!(schema_values, parser, "`{name}`: {message}");
    }
}

/// A config that validates, with `path` (dotted) set to `value`.
fn validated_with(path: &str, value: Value) -> cozefallback::Result<Config> {
    let mut doc = json!({"personal": {"type": "pat", "token": "pat_x"}});
    let mut at = &mut doc;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        at = at
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert_with(|| json!({}));
    }
    at[parts[parts.len() - 1]] = value;
    Config::from_json(&doc.to_string()).and_then(|c| c.validate().map(|()| c))
}

#[test]
fn the_stated_bounds_are_the_ones_enforced() {
    let root = schema();
    let mut checked = 0;
    let mut props: Vec<(String, &Value)> = Vec::new();
    for (name, prop) in root["properties"].as_object().unwrap() {
        if prop["type"] == "object" {
            for (k, p) in prop["properties"].as_object().unwrap() {
                props.push((format!("{name}.{k}"), p));
            }
        } else {
            props.push((name.clone(), prop));
        }
    }
    for (path, prop) in props {
        if prop["type"] != "integer" || path == "max_body_bytes" {
            continue;
        }
        if let Some(max) = prop.get("maximum").and_then(Value::as_u64) {
            validated_with(&path, json!(max)).unwrap_or_else(|e| panic!("{path} = {max}: {e}"));
            let err = validated_with(&path, json!(max + 1))
                .err()
                .unwrap_or_else(|| panic!("{path} = {} was accepted", max + 1));
            assert_eq!(err.field(), Some(path.as_str()), "{err}");
            checked += 1;
        }
        if let Some(min) = prop.get("minimum").and_then(Value::as_u64) {
            validated_with(&path, json!(min)).unwrap_or_else(|e| panic!("{path} = {min}: {e}"));
            if min > 0 {
                let err = validated_with(&path, json!(min - 1))
                    .err()
                    .unwrap_or_else(|| panic!("{path} = {} was accepted", min - 1));
                assert_eq!(err.field(), Some(path.as_str()), "{err}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} bounds checked");
}

/// The `default` the schema states for the field at dotted `path` (`retry.max_retries`).
fn stated_default(root: &Value, path: &str) -> Value {
    let mut node = root;
    for name in path.split('.') {
        node = &node["properties"][name];
    }
    node.get("default")
        .cloned()
        .unwrap_or_else(|| panic!("the schema states no default for {path}"))
}

#[test]
fn the_stated_defaults_are_the_parsers() {
    let root = schema();
    let parsed = Config::from_json("{}").unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("base_url", json!(parsed.base_url)),
        ("mode", json!(parsed.mode.as_str())),
        ("fallback.codes", json!(parsed.fallback.codes)),
        (
            "fallback.not_found_codes",
            json!(parsed.fallback.not_found_codes),
        ),
        (
            "fallback.sticky_ttl_secs",
            json!(parsed.fallback.sticky_ttl_secs),
        ),
        ("fallback.sticky", json!(parsed.fallback.sticky)),
        ("retry.max_retries", json!(parsed.retry.max_retries)),
        ("retry.non_idempotent", json!(parsed.retry.non_idempotent)),
        ("retry.base_delay_ms", json!(parsed.retry.base_delay_ms)),
        ("retry.max_delay_ms", json!(parsed.retry.max_delay_ms)),
        (
            "retry.budget_per_10_requests",
            json!(parsed.retry.budget_per_10_requests),
        ),
        ("timeouts.connect_ms", json!(parsed.timeouts.connect_ms)),
        (
            "timeouts.first_byte_ms",
            json!(parsed.timeouts.first_byte_ms),
        ),
        ("timeouts.idle_ms", json!(parsed.timeouts.idle_ms)),
        ("timeouts.total_ms", json!(parsed.timeouts.total_ms)),
        (
            "conversations.on_stranded",
            json!(parsed.conversations.on_stranded.as_str()),
        ),
        ("state.key_prefix", json!(parsed.state.key_prefix)),
        ("state.share_tokens", json!(parsed.state.share_tokens)),
        (
            "conversations.carry_over_messages",
            json!(parsed.conversations.carry_over_messages),
        ),
        ("allow_insecure_http", json!(parsed.allow_insecure_http)),
        ("max_request_bytes", json!(parsed.max_request_bytes)),
        ("max_event_bytes", json!(parsed.max_event_bytes)),
        ("max_response_bytes", json!(parsed.max_response_bytes)),
    ];
    for (path, parsed) in cases {
        assert_eq!(
            stated_default(&root, path),
            parsed,
            "default of {path}: schema (left) vs parser (right)"
        );
    }
}
