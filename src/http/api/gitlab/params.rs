//! Request parameters the way GitLab's Grape API takes them: the query string, a JSON body, a
//! form-urlencoded body and a multipart body all merge into one map (body over query). Each
//! operation declares its parameters as a typed struct ([`Params::parse`]) whose fields read
//! their values through [`lenient`], with Grape's coercions and error texts (`url is missing`,
//! `enabled is invalid`); the same struct documents the operation in the OpenAPI document. The
//! per-key accessors are those readers' twins, kept for the fuzz target and the tests.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use super::error::ApiError;

/// Largest request body the API accepts; mirror settings are tiny, so 1 MiB is generous.
const MAX_BODY: usize = 1024 * 1024;

/// The merged parameters of one request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(pub Map<String, Value>);

/// Rack's `param_depth_limit`: a name nested deeper keeps the rest of its brackets as one key
/// (Rack refuses it; no client sends one, and this bounds the recursion).
const MAX_DEPTH: usize = 32;

/// One `name=value` pair of a query string, form or multipart body, nested as Rack (and so
/// GitLab) nests it: `a[b]=1` is `{"a": {"b": "1"}}`, `a[]=1` appends to an array, and
/// `a[][b]=1&a[][c]=2&a[][b]=3` is `[{"b": "1", "c": "2"}, {"b": "3"}]` (a key already in the
/// array's last object starts a new one), the form @gitbeaker sends `allowed_to_push` in. Where
/// a name's shape contradicts an earlier one's (`a=1&a[]=2`), the later shape wins (Rack refuses).
fn insert_pair(map: &mut Map<String, Value>, key: String, value: String) {
    normalize(map, &key, Value::String(value), 0);
}

/// Rack's `normalize_params` for `name` at nesting `depth` of `params`. Returns a value only
/// for a bare `[]` below the top, which Rack makes `[value]`.
fn normalize(
    params: &mut Map<String, Value>,
    name: &str,
    value: Value,
    depth: usize,
) -> Option<Value> {
    if depth >= MAX_DEPTH {
        params.insert(name.to_owned(), value);
        return None;
    }
    let (k, after) = split_name(name, depth);
    if k.is_empty() {
        return None;
    }
    if after.is_empty() {
        if k == "[]" && depth != 0 {
            return Some(Value::Array(vec![value]));
        }
        params.insert(k.to_owned(), value);
    } else if after == "[" {
        params.insert(name.to_owned(), value);
    } else if after == "[]" {
        array_at(params, k).push(value);
    } else if let Some(rest) = after.strip_prefix("[]") {
        // `x[][y]`: objects inside an array; anything else after `[]` nests as it reads.
        let child = match rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(c) if !c.is_empty() && !c.contains(['[', ']']) => c,
            _ => rest,
        };
        let items = array_at(params, k);
        match items.last_mut() {
            Some(Value::Object(last)) if !has_key(last, child) => {
                normalize(last, child, value, depth + 1);
            }
            _ => {
                let mut fresh = Map::new();
                let nested = normalize(&mut fresh, child, value, depth + 1);
                items.push(nested.unwrap_or(Value::Object(fresh)));
            }
        }
    } else {
        let entry = params
            .entry(k.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(inner) = entry {
            if let Some(nested) = normalize(inner, after, value, depth + 1) {
                *entry = nested;
            }
        }
    }
    None
}

/// A name's first key and the brackets after it. At the top the key is everything before the
/// first `[` (past the first character); below, `[]`, or the text inside the leading `[…]`.
fn split_name(name: &str, depth: usize) -> (&str, &str) {
    // Byte positions of ASCII brackets are always character boundaries.
    let from_second = |c: u8| name.bytes().skip(1).position(|b| b == c).map(|i| i + 1);
    if depth == 0 {
        match from_second(b'[') {
            Some(start) => (&name[..start], &name[start..]),
            None => (name, ""),
        }
    } else if let Some(rest) = name.strip_prefix("[]") {
        ("[]", rest)
    } else if let Some(end) = name.starts_with('[').then(|| from_second(b']')).flatten() {
        (&name[1..end], &name[end + 1..])
    } else {
        (name, "")
    }
}

/// The array at `params[k]`, made (or put in place of another shape) when needed.
fn array_at<'a>(params: &'a mut Map<String, Value>, k: &str) -> &'a mut Vec<Value> {
    let entry = params
        .entry(k.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    match entry {
        Value::Array(items) => items,
        _ => unreachable!("made an array above"),
    }
}

/// Rack's `params_hash_has_key?`: whether the nested key `a[b]` is already in `hash`.
fn has_key(hash: &Map<String, Value>, key: &str) -> bool {
    if key.contains("[]") {
        return false;
    }
    let mut here = Some(hash);
    let mut found = true;
    for part in key.split(['[', ']']).filter(|p| !p.is_empty()) {
        match here.and_then(|h| h.get(part)) {
            Some(v) => here = v.as_object(),
            None => {
                found = false;
                break;
            }
        }
    }
    found
}

fn parse_pairs(map: &mut Map<String, Value>, raw: &[u8]) {
    for (k, v) in url::form_urlencoded::parse(raw) {
        insert_pair(map, k.into_owned(), v.into_owned());
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut map = Map::new();
        if let Some(q) = req.uri().query() {
            parse_pairs(&mut map, q.as_bytes());
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::Param(format!("invalid multipart body: {e}")))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| ApiError::Param(format!("invalid multipart body: {e}")))?
            {
                let Some(name) = field.name().map(str::to_owned) else {
                    continue;
                };
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::Param(format!("invalid multipart body: {e}")))?;
                insert_pair(&mut map, name, text);
            }
            refuse_nul(&map)?;
            return Ok(Params(map));
        }
        let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| ApiError::Param("request body is too large or unreadable".into()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            refuse_nul(&map)?;
            return Ok(Params(map));
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            parse_pairs(&mut map, &body);
        } else if content_type.starts_with("application/json") || content_type.is_empty() {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(obj)) => map.extend(obj),
                Ok(_) => {
                    return Err(ApiError::Param(
                        "the request body must be a JSON object".into(),
                    ))
                }
                Err(e) => {
                    return Err(ApiError::Param(format!(
                        "There was a problem with the JSON you submitted: {e}"
                    )))
                }
            }
        } else {
            return Err(ApiError::Param(format!(
                "The provided content-type '{content_type}' is not supported."
            )));
        }
        refuse_nul(&map)?;
        Ok(Params(map))
    }
}

/// Refuses a parameter holding a NUL character anywhere (in its name or value, however deep):
/// no client means one, and PostgreSQL cannot store it.
fn refuse_nul(map: &Map<String, Value>) -> Result<(), ApiError> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(obj) => obj.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    match map.iter().find(|(k, v)| k.contains('\0') || has_nul(v)) {
        Some((k, _)) => Err(ApiError::Param(format!(
            "{} is invalid",
            k.replace('\0', "\\0")
        ))),
        None => Ok(()),
    }
}

/// Grape's Boolean coercion: which strings mean true and false.
fn coerce_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
            "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

impl Params {
    /// Whether the key was sent at all (even as null).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// A string parameter. Numbers are taken as their decimal text; arrays and objects are invalid.
    /// `Some(None)` means an explicit null.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn string(&self, key: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(Value::Number(n)) => Ok(Some(Some(n.to_string()))),
            Some(Value::Bool(b)) => Ok(Some(Some(b.to_string()))),
            Some(_) => Err(invalid(key)),
        }
    }

    /// A string that must be present (`<key> is missing`); null reads as missing, as in Grape.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn required_string(&self, key: &str) -> Result<String, ApiError> {
        self.string(key)?
            .flatten()
            .ok_or_else(|| ApiError::Param(format!("{key} is missing")))
    }

    /// A Boolean parameter; `Some(None)` is an explicit null.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn bool(&self, key: &str) -> Result<Option<Option<bool>>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => coerce_bool(v)
                .map(|b| Some(Some(b)))
                .ok_or_else(|| invalid(key)),
        }
    }

    /// An integer parameter.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| invalid(key)),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid(key)),
            Some(_) => Err(invalid(key)),
        }
    }

    /// An array of strings; a single string counts as a one-element array. (Handlers read
    /// arrays through [`lenient::strings`]; the fuzz target still checks this twin.)
    #[cfg(any(test, fuzzing))]
    pub(crate) fn string_array(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(invalid(key)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(key)),
        }
    }

    /// Fails with Grape's `mutually_exclusive` error when all `keys` were sent.
    pub(crate) fn mutually_exclusive(&self, keys: &[&str]) -> Result<(), ApiError> {
        if keys.iter().all(|k| self.has(k)) {
            return Err(ApiError::Param(format!(
                "{} are mutually exclusive",
                keys.join(", ")
            )));
        }
        Ok(())
    }
}

impl Params {
    /// The parameters as the operation's typed request struct `T`, whose fields read their
    /// values through [`lenient`]. A field that fails is reported as Grape reports it:
    /// `<key> is missing`, `<key> is invalid` or `<key> does not have a valid value`.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        let value = Value::Object(self.0.clone());
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            grape_error(&path, &message)
        })
    }
}

/// Grape's text for a field of a typed request struct that failed with serde's `message` at
/// `path` (`.` when the failure is the struct's own, as a missing field is).
fn grape_error(path: &str, message: &str) -> ApiError {
    let at = |key: &str| -> String {
        match path {
            "." | "" => key.to_owned(),
            p => format!("{p}.{key}"),
        }
    };
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        return ApiError::Param(format!("{} is missing", at(field)));
    }
    let key = if path == "." { "parameters" } else { path };
    if message == lenient::MISSING {
        ApiError::Param(format!("{key} is missing"))
    } else if message == lenient::NOT_VALID || message.starts_with("unknown variant") {
        not_valid_value(key)
    } else {
        invalid(key)
    }
}

/// Field readers for typed request structs (`#[serde(default, deserialize_with = "…")]`), each
/// the typed twin of one of [`Params`]' accessors: Grape's coercions (`"true"`, `"1"`, `"yes"`
/// are true; numbers in strings are numbers; a lone string is a one-element array), and `null`
/// kept apart from absence where an update must tell "leave it" from "clear it".
pub(crate) mod lenient {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// The error text of a required parameter that is absent or null.
    pub(crate) const MISSING: &str = "is missing";
    /// The error text of a value outside the parameter's allowed set.
    pub(crate) const NOT_VALID: &str = "does not have a valid value";
    const INVALID: &str = "is invalid";

    fn text(v: Value) -> Result<Option<String>, &'static str> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            _ => Err(INVALID),
        }
    }

    fn integer(v: Value) -> Result<Option<i64>, &'static str> {
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => n.as_i64().map(Some).ok_or(INVALID),
            Value::String(s) => s.trim().parse().map(Some).map_err(|_| INVALID),
            _ => Err(INVALID),
        }
    }

    /// A string (numbers and Booleans as their text); absent and null are `None`.
    pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        text(Value::deserialize(d)?).map_err(D::Error::custom)
    }

    /// A string that must be given: null reads as missing, as in Grape.
    pub(crate) fn required_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        string(d)?.ok_or_else(|| D::Error::custom(MISSING))
    }

    /// A string where null (`Some(None)`) differs from absence (`None`, the field's default).
    pub(crate) fn nullable_string<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        string(d).map(Some)
    }

    /// A Boolean; absent and null are `None`.
    pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        nullable_bool(d).map(Option::flatten)
    }

    /// A Boolean where null (`Some(None)`) differs from absence (`None`).
    pub(crate) fn nullable_bool<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<bool>>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Some(None)),
            v => super::coerce_bool(&v)
                .map(|b| Some(Some(b)))
                .ok_or_else(|| D::Error::custom(INVALID)),
        }
    }

    /// An integer (also in a string); absent and null are `None`.
    pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        integer(Value::deserialize(d)?).map_err(D::Error::custom)
    }

    /// An array of strings; a lone string is a one-element array; absent and null are `None`.
    pub(crate) fn strings<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<String>>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(vec![s])),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(D::Error::custom(INVALID)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            _ => Err(D::Error::custom(INVALID)),
        }
    }
}

/// Grape's `<key> is invalid`.
pub(crate) fn invalid(key: &str) -> ApiError {
    ApiError::Param(format!("{key} is invalid"))
}

/// Grape's `<key> does not have a valid value`.
pub(crate) fn not_valid_value(key: &str) -> ApiError {
    ApiError::Param(format!("{key} does not have a valid value"))
}

/// A user name and password given beside a URL (GitLab's `auth_user`/`auth_password`,
/// `import_url_user`/`import_url_password`); blank ones count as absent.
pub(crate) fn typed_credentials(
    user: Option<String>,
    password: Option<String>,
) -> Option<crate::model::url::Credentials> {
    let user = user.filter(|u| !u.is_empty());
    let password = password.filter(|p| !p.is_empty());
    if user.is_none() && password.is_none() {
        return None;
    }
    Some(crate::model::url::Credentials {
        user: user.map(Into::into),
        password: password.map(Into::into),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        Params(v.as_object().unwrap().clone())
    }

    #[test]
    fn booleans_accept_grape_spellings() {
        let p = params(
            json!({"a": "true", "b": "0", "c": true, "d": 1, "e": "maybe", "f": null, "g": "YES"}),
        );
        assert_eq!(p.bool("a").unwrap(), Some(Some(true)));
        assert_eq!(p.bool("b").unwrap(), Some(Some(false)));
        assert_eq!(p.bool("c").unwrap(), Some(Some(true)));
        assert_eq!(p.bool("d").unwrap(), Some(Some(true)));
        assert_eq!(p.bool("e").unwrap_err().to_string(), "e is invalid");
        assert_eq!(p.bool("f").unwrap(), Some(None));
        assert_eq!(p.bool("g").unwrap(), Some(Some(true)));
        assert_eq!(p.bool("missing").unwrap(), None);
    }

    #[test]
    fn strings_ints_arrays_and_exclusivity() {
        let p =
            params(json!({"s": "x", "n": 5, "o": {}, "a": ["k1", "k2"], "i": "12", "bad": "x1"}));
        assert_eq!(p.required_string("s").unwrap(), "x");
        assert_eq!(p.required_string("n").unwrap(), "5");
        assert_eq!(
            p.required_string("url").unwrap_err().to_string(),
            "url is missing"
        );
        assert!(p.string("o").is_err());
        assert_eq!(p.string_array("a").unwrap().unwrap(), vec!["k1", "k2"]);
        assert_eq!(p.int("i").unwrap(), Some(12));
        assert_eq!(p.int("bad").unwrap_err().to_string(), "bad is invalid");
        assert_eq!(
            p.mutually_exclusive(&["s", "n"]).unwrap_err().to_string(),
            "s, n are mutually exclusive"
        );
        assert!(p.mutually_exclusive(&["s", "zz"]).is_ok());
    }

    #[test]
    fn form_pairs_build_arrays_from_brackets() {
        let mut m = Map::new();
        parse_pairs(&mut m, b"host_keys[]=a&host_keys[]=b+c&enabled=1");
        assert_eq!(m["host_keys"], json!(["a", "b c"]));
        assert_eq!(m["enabled"], json!("1"));
    }

    fn parsed(raw: &str) -> Value {
        let mut m = Map::new();
        parse_pairs(&mut m, raw.as_bytes());
        Value::Object(m)
    }

    #[test]
    fn form_pairs_nest_as_rack_does() {
        for (raw, want) in [
            ("a[b]=1&a[c]=2", json!({"a": {"b": "1", "c": "2"}})),
            ("a[b][c]=1", json!({"a": {"b": {"c": "1"}}})),
            // @gitbeaker's `allowed_to_push`: a key already in the last object starts a new one.
            (
                "p[][access_level]=40&p[][user_id]=2&p[][access_level]=30",
                json!({"p": [{"access_level": "40", "user_id": "2"}, {"access_level": "30"}]}),
            ),
            (
                "p[][user_id]=1&p[][user_id]=2",
                json!({"p": [{"user_id": "1"}, {"user_id": "2"}]}),
            ),
            (
                "p[][x][y]=1&p[][x][z]=2",
                json!({"p": [{"x": {"y": "1", "z": "2"}}]}),
            ),
            ("a[][]=1", json!({"a": [["1"]]})),
            ("[a]=1&=2&a[=3", json!({"[a]": "1", "a[": "3"})),
            ("a=1&a[]=2", json!({"a": ["2"]})),
            ("a[]=1&a[b]=2", json!({"a": {"b": "2"}})),
            ("é[ü]=1", json!({"é": {"ü": "1"}})),
        ] {
            assert_eq!(parsed(raw), want, "{raw}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("a{}=1", "[b]".repeat(10_000));
        let v = parsed(&deep);
        let mut here = &v["a"];
        for _ in 1..MAX_DEPTH {
            here = &here["b"];
        }
        assert!(
            here.is_object(),
            "nested {MAX_DEPTH} levels, then the rest as one key"
        );
    }
}
