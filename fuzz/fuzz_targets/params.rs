//! Request parameters: the query string merged with a JSON, form-urlencoded or multipart body
//! (`Params`), the typed accessors handlers read them with, and `page_request`.
//!
//! Input: the query string, a newline, the Content-Type (empty for none), a newline, the body.
//! Properties: accepted parameters hold no NUL anywhere; a JSON or form body wins over the query
//! for every key it sends, and `key[]` keys collect their values in order (query first; deeper
//! nesting, Rack's `a[b]` and `a[][b]`, is checked by the unit tests of `params.rs`); every
//! accessor agrees with the value it reads and fails only with Grape's message for that key;
//! `page_request` stays within GitLab's bounds and fails exactly when `page` or `per_page` is
//! not an integer.
#![no_main]

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use pushmirror::fuzzing::{params, Params};
use serde_json::{Map, Value};

/// Keys every input is asked for, present or not.
const KEYS: &[&str] = &["page", "per_page", "url", "enabled", "host_keys"];

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(obj) => obj.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Adds form pairs to `merged` the documented way: an empty name is dropped, a plain key's last
/// value wins, `key[]` values collect into an array under `key` (replacing a plain value).
/// `None` when a name nests deeper (`a[b]`, `a[][b]`): then only the parser's word counts.
fn merge_pairs(merged: &mut Map<String, Value>, raw: &[u8]) -> Option<()> {
    for (k, v) in url::form_urlencoded::parse(raw) {
        let v = Value::String(v.into_owned());
        // Rack's split: the key is what comes before the first `[` past the first character.
        let start = k.bytes().skip(1).position(|b| b == b'[').map(|i| i + 1);
        match start.map(|i| (&k[..i], &k[i..])) {
            _ if k.is_empty() => {}
            None | Some((_, "[")) => {
                merged.insert(k.to_string(), v);
            }
            Some((base, "[]")) => match merged.get_mut(base) {
                Some(Value::Array(items)) => items.push(v),
                _ => {
                    merged.insert(base.to_owned(), Value::Array(vec![v]));
                }
            },
            Some(_) => return None,
        }
    }
    Some(())
}

/// The merged map the body promises, or `None` when only the parser's word counts (multipart,
/// or a body it must refuse).
fn expected(query: &str, content_type: &str, body: &[u8]) -> Option<Map<String, Value>> {
    let mut merged = Map::new();
    merge_pairs(&mut merged, query.as_bytes())?;
    let ct = content_type.to_ascii_lowercase();
    if body.iter().all(u8::is_ascii_whitespace) {
        return (!ct.starts_with("multipart/form-data")).then_some(merged);
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        merge_pairs(&mut merged, body)?;
    } else if ct.is_empty() || ct.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(obj)) => merged.extend(obj),
            _ => return None,
        }
    } else {
        return None;
    }
    Some(merged)
}

fn check_accessors(p: &Params, key: &str) {
    let value = p.map().get(key);
    let invalid = format!("{key} is invalid");
    assert_eq!(p.has(key), value.is_some());
    match (value, p.string(key)) {
        (None, Ok(None)) | (Some(Value::Null), Ok(Some(None))) => {}
        (Some(Value::String(s)), Ok(Some(Some(got)))) => assert_eq!(&got, s),
        (Some(Value::Number(n)), Ok(Some(Some(got)))) => assert_eq!(got, n.to_string()),
        (Some(Value::Bool(b)), Ok(Some(Some(got)))) => assert_eq!(got, b.to_string()),
        (Some(Value::Array(_) | Value::Object(_)), Err(e)) => assert_eq!(e, invalid),
        (v, got) => panic!("string({key}) of {v:?} is {got:?}"),
    }
    match p.required_string(key) {
        Ok(s) => assert_eq!(p.string(key), Ok(Some(Some(s)))),
        Err(e) => assert!(e == invalid || e == format!("{key} is missing"), "{e}"),
    }
    match p.bool(key) {
        Ok(None) => assert!(value.is_none()),
        Ok(Some(None)) => assert_eq!(value, Some(&Value::Null)),
        Ok(Some(Some(b))) => assert!(
            match value {
                Some(Value::Bool(v)) => *v == b,
                Some(Value::Number(n)) => n.as_i64() == Some(b as i64),
                Some(Value::String(s)) => {
                    let s = s.to_ascii_lowercase();
                    let spellings: &[&str] = match b {
                        true => &["1", "true", "t", "yes", "y", "on"],
                        false => &["0", "false", "f", "no", "n", "off"],
                    };
                    spellings.contains(&s.as_str())
                }
                _ => false,
            },
            "bool({key}) of {value:?} is {b}"
        ),
        Err(e) => assert_eq!(e, invalid),
    }
    match p.int(key) {
        Ok(None) => assert!(matches!(value, None | Some(Value::Null))),
        Ok(Some(n)) => assert!(
            match value {
                Some(Value::Number(v)) => v.as_i64() == Some(n),
                Some(Value::String(s)) => s.trim().parse::<i64>() == Ok(n),
                _ => false,
            },
            "int({key}) of {value:?} is {n}"
        ),
        Err(e) => assert_eq!(e, invalid),
    }
    match p.string_array(key) {
        Ok(None) => assert!(matches!(value, None | Some(Value::Null))),
        Ok(Some(items)) => {
            let expected: Vec<Value> = items.into_iter().map(Value::String).collect();
            match value {
                Some(Value::Array(v)) => assert_eq!(v, &expected),
                Some(one @ Value::String(_)) => assert_eq!(expected, vec![one.clone()]),
                _ => panic!("string_array({key}) of {value:?}"),
            }
        }
        Err(e) => assert_eq!(e, invalid),
    }
    for other in KEYS {
        let both = p.has(key) && p.has(other);
        match p.mutually_exclusive(&[key, other]) {
            Ok(()) => assert!(!both),
            Err(e) => {
                assert!(both);
                assert_eq!(e, format!("{key}, {other} are mutually exclusive"));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (Ok(query), Ok(content_type)) = (
        std::str::from_utf8(parts.next().unwrap_or_default()),
        std::str::from_utf8(parts.next().unwrap_or_default()),
    ) else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let mut request = Request::builder().uri(format!("/api/v4/x?{query}"));
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    // Only what an HTTP server could have received: a valid request target and header.
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    // The query as the server sees it: a `#` starts the fragment, which is not sent.
    let query = request.uri().query().unwrap_or_default().to_owned();

    let Ok(p) = params(request) else {
        return;
    };
    assert!(!p.map().iter().any(|(k, v)| k.contains('\0') || has_nul(v)));
    if let Some(merged) = expected(&query, content_type, body) {
        if !merged.iter().any(|(k, v)| k.contains('\0') || has_nul(v)) {
            assert_eq!(p.map(), &merged);
        }
    }
    for key in p
        .map()
        .keys()
        .map(String::as_str)
        .chain(KEYS.iter().copied())
    {
        check_accessors(&p, key);
    }
    match p.page_request() {
        Ok(page) => {
            let asked = |key| p.int(key).expect("page_request read it");
            let max_page = i64::from(i32::MAX);
            assert_eq!(page.page, asked("page").unwrap_or(1).clamp(1, max_page));
            assert_eq!(page.per_page, asked("per_page").unwrap_or(20).clamp(1, 100));
        }
        Err(e) => assert!(p.int("page").is_err() || p.int("per_page").is_err(), "{e}"),
    }
});
