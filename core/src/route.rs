//! Which credential goes first: the mode's order, bent by what the client learned per resource.
//!
//! After the move, the first call for a bot pays one extra round trip (personal fails, enterprise serves); the
//! sticky table remembers that and sends the next calls for that bot straight to the enterprise credential
//! until the TTL runs out, when the preferred credential is probed again. Conversations stay with the
//! credential that created them, because Coze conversations belong to their creator.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::credential::CredentialKind;
use crate::runtime::{ForkMutex, fork_mutex};
use crate::state::RedisStore;
use crate::util::lock;

/// Request fields that name a resource, in the order a route is looked up (the most specific first).
const RESOURCE_FIELDS: [&str; 7] = [
    "conversation_id",
    "bot_id",
    "workflow_id",
    "app_id",
    "dataset_id",
    "workspace_id",
    "space_id",
];

/// Conversations live long; bound the table rather than expire them quickly.
const CONVERSATION_TTL: Duration = Duration::from_secs(7 * 86_400);
const MAX_ENTRIES: usize = 100_000;

/// A resource named by a request, such as `bot_id=7350...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ResourceKey {
    pub(crate) field: &'static str,
    pub(crate) id: String,
}

#[derive(Clone, Copy)]
struct Route {
    credential: CredentialKind,
    until: Instant,
}

pub(crate) struct Router {
    ttl: Duration,
    enabled: bool,
    routes: ForkMutex<HashMap<ResourceKey, Route>>,
    /// With a Redis state store: what this process learns is queued for the fleet (never awaited here).
    shared: Option<Arc<RedisStore>>,
}

impl Router {
    #[cfg(test)]
    pub(crate) fn new(ttl: Duration, enabled: bool) -> Self {
        Router::shared(ttl, enabled, None)
    }

    /// A router whose learned routes and bindings also reach the fleet through `store`.
    pub(crate) fn shared(ttl: Duration, enabled: bool, store: Option<Arc<RedisStore>>) -> Self {
        Router {
            ttl,
            enabled,
            routes: fork_mutex(HashMap::new()),
            shared: store,
        }
    }

    /// A route another process learned (from the store): kept locally, not published again.
    pub(crate) fn apply_shared(
        &self,
        field: &str,
        id: &str,
        credential: CredentialKind,
        ttl: Duration,
    ) {
        let Some(field) = RESOURCE_FIELDS.iter().copied().find(|f| *f == field) else {
            return;
        };
        if field != "conversation_id" && !self.enabled {
            return;
        }
        let key = ResourceKey {
            field,
            id: id.to_string(),
        };
        let route = Route {
            credential,
            until: Instant::now() + ttl,
        };
        self.insert(std::iter::once((key, route)));
    }

    /// Queues a route for the fleet unless the local table already holds it fresh (a repeated binding of a
    /// busy conversation costs no Redis write).
    fn publish(&self, key: &ResourceKey, credential: CredentialKind, ttl: Duration, fresh: bool) {
        if let Some(store) = &self.shared
            && !fresh
        {
            store.route_learned(key.field, &key.id, credential, ttl);
        }
    }

    /// Whether `key` already routes to `credential` for more than half of `ttl`.
    fn holds_fresh(&self, key: &ResourceKey, credential: CredentialKind, ttl: Duration) -> bool {
        self.shared.is_some()
            && lock(&self.routes)
                .get(key)
                .is_some_and(|r| r.credential == credential && r.until > Instant::now() + ttl / 2)
    }

    /// The credential remembered for the first of `keys` that has a live route.
    pub(crate) fn lookup(&self, keys: &[ResourceKey]) -> Option<CredentialKind> {
        if let Some(store) = &self.shared {
            store.ensure_driver(); // a forked child starts its own (one atomic load otherwise)
        }
        if keys.is_empty() {
            return None;
        }
        let routes = lock(&self.routes);
        if routes.is_empty() {
            return None; // no clock read before any fallback was ever remembered
        }
        let now = Instant::now();
        keys.iter().find_map(|k| {
            routes
                .get(k)
                .filter(|r| r.until > now)
                .map(|r| r.credential)
        })
    }

    /// After a fallback: the resources of this request live with `credential` now.
    pub(crate) fn remember(&self, keys: &[ResourceKey], credential: CredentialKind) {
        if !self.enabled {
            return;
        }
        let until = Instant::now() + self.ttl;
        self.insert(
            keys.iter()
                .filter(|k| k.field != "conversation_id")
                .map(|k| (k.clone(), Route { credential, until })),
        );
        for k in keys.iter().filter(|k| k.field != "conversation_id") {
            self.publish(k, credential, self.ttl, false);
        }
    }

    /// A conversation was created by `credential`: keep it there.
    pub(crate) fn bind_conversation(&self, id: &str, credential: CredentialKind) {
        let key = ResourceKey {
            field: "conversation_id",
            id: id.to_string(),
        };
        let fresh = self.holds_fresh(&key, credential, CONVERSATION_TTL);
        self.publish(&key, credential, CONVERSATION_TTL, fresh);
        self.insert(std::iter::once((
            key,
            Route {
                credential,
                until: Instant::now() + CONVERSATION_TTL,
            },
        )));
    }

    fn insert(&self, entries: impl Iterator<Item = (ResourceKey, Route)>) {
        let mut routes = lock(&self.routes);
        if routes.len() >= MAX_ENTRIES {
            let now = Instant::now();
            routes.retain(|_, r| r.until > now);
            if routes.len() >= MAX_ENTRIES {
                routes.clear();
            }
        }
        routes.extend(entries);
    }
}

/// The resources a request names, in its path (`/v1/bots/{id}`), query or top-level JSON body.
pub(crate) fn resource_keys(url: &url::Url, json: Option<&serde_json::Value>) -> Vec<ResourceKey> {
    let mut keys = Vec::new();
    let mut push = |field: &'static str, id: &str| {
        let key = ResourceKey {
            field,
            id: id.to_string(),
        };
        if !id.is_empty() && !keys.contains(&key) {
            keys.push(key);
        }
    };
    if let Some(mut segments) = url.path_segments() {
        while let Some(seg) = segments.next() {
            let field = match seg {
                "bots" => "bot_id",
                "conversations" => "conversation_id",
                "datasets" => "dataset_id",
                "workspaces" => "workspace_id",
                "workflows" => "workflow_id",
                _ => continue,
            };
            if let Some(id) = segments
                .next()
                .filter(|id| id.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty())
            {
                push(field, id);
            }
        }
    }
    for (k, v) in url.query_pairs() {
        if let Some(field) = RESOURCE_FIELDS.iter().find(|f| **f == k) {
            push(field, &v);
        }
    }
    if let Some(obj) = json.and_then(|j| j.as_object()) {
        for field in RESOURCE_FIELDS {
            match obj.get(field) {
                Some(serde_json::Value::String(s)) => push(field, s),
                Some(serde_json::Value::Number(n)) => push(field, &n.to_string()),
                _ => {}
            }
        }
    }
    keys.sort_by_key(|k| RESOURCE_FIELDS.iter().position(|f| *f == k.field));
    keys
}

/// The conversation a successful answer created or used, so it can be bound to its credential.
pub(crate) fn conversation_in_answer(path: &str, body: &serde_json::Value) -> Option<String> {
    let data = body.get("data")?;
    let id = if path.ends_with("/conversation/create") {
        data.get("id")
    } else {
        data.get("conversation_id")
    };
    match id? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_path_query_and_body_most_specific_first() {
        let url =
            url::Url::parse("https://api.coze.cn/v1/bots/735?workspace_id=734&conversation_id=9")
                .unwrap();
        let keys = resource_keys(
            &url,
            Some(&serde_json::json!({"workflow_id": 736, "bot_id": "735"})),
        );
        let fields: Vec<_> = keys.iter().map(|k| (k.field, k.id.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("conversation_id", "9"),
                ("bot_id", "735"),
                ("workflow_id", "736"),
                ("workspace_id", "734")
            ]
        );
    }

    #[test]
    fn remembered_routes_expire() {
        let router = Router::new(Duration::from_millis(20), true);
        let keys = vec![ResourceKey {
            field: "bot_id",
            id: "1".into(),
        }];
        router.remember(&keys, CredentialKind::Enterprise);
        assert_eq!(router.lookup(&keys), Some(CredentialKind::Enterprise));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(router.lookup(&keys), None);
    }
}
