//! Small helpers: clocks, ids, query strings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `n` random bytes, hex encoded.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A Coze-looking 19-digit id, unique for the life of the process (so across resets too).
pub(crate) fn new_id() -> String {
    (7_480_000_000_000_000_000u64 + NEXT_ID.fetch_add(1, Ordering::Relaxed)).to_string()
}

/// A log id shaped like Coze's: a UTC timestamp followed by random hex.
pub(crate) fn new_logid() -> String {
    let secs = now_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}{}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        random_hex(10).to_uppercase()
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Parses a query string (`a=1&b=x%20y`) into a map; the last value of a repeated key wins.
pub(crate) fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn logid_shape() {
        let id = new_logid();
        assert_eq!(id.len(), 14 + 20);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
