//! Strict JSON for everything a caller sends: an object that repeats a key is refused, at any
//! depth (docs/DESIGN.md, "Deletion request"). serde_json keeps the last of two equal keys, a
//! validator in front of the queue may keep the first, and the signature covers the bytes — so
//! `{"checkpoint_items":["x"],"checkpoint_items":null}` would be one request to a reviewer and
//! a whole-checkpoint deletion to us.
//!
//! The input is parsed once, by serde_json, into a [`Value`]; only the map visitor differs from
//! serde_json's own: it refuses a key it has already seen and records where.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why strict parsing failed.
#[derive(Debug)]
pub enum StrictError {
    /// Not JSON (serde_json's own message, with line and column).
    Syntax(serde_json::Error),
    /// An object repeats a key; `path` names it (`select.status`, `targets[2].id`).
    Duplicate { path: String },
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Syntax(e) => write!(f, "{e}"),
            StrictError::Duplicate { path } => write!(f, "the key {path} appears more than once"),
        }
    }
}

/// Parses `bytes` into a [`Value`], refusing an object that repeats a key.
pub fn from_slice(bytes: &[u8]) -> Result<Value, StrictError> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict { duplicate: &found }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match (parsed, found.into_inner()) {
        (_, Some(segments)) => Err(StrictError::Duplicate { path: join(segments) }),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(StrictError::Syntax(e)),
    }
}

/// [`from_slice`] for text.
pub fn from_str(text: &str) -> Result<Value, StrictError> {
    from_slice(text.as_bytes())
}

/// One step of a path: an object's key or an array's index.
enum Segment {
    Key(String),
    Index(usize),
}

/// The path of a duplicate from its segments, innermost first: `select.status`, `a[1].b`.
fn join(mut segments: Vec<Segment>) -> String {
    segments.reverse();
    let mut path = String::new();
    for s in segments {
        match s {
            Segment::Key(k) if path.is_empty() => path.push_str(&k),
            Segment::Key(k) => {
                path.push('.');
                path.push_str(&k);
            }
            Segment::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// A value; a duplicate key is recorded in `duplicate` (the error serde returns cannot carry
/// it as data). The path is built only on that error, as it unwinds through the enclosing
/// objects and arrays, so a valid document costs no more than serde_json's own parse.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a RefCell<Option<Vec<Segment>>>,
}

impl Strict<'_> {
    /// Adds the enclosing step to a duplicate's path on the way out.
    fn within<T, E>(self, segment: impl FnOnce() -> Segment, r: Result<T, E>) -> Result<T, E> {
        if r.is_err()
            && let Some(path) = self.duplicate.borrow_mut().as_mut()
        {
            path.push(segment());
        }
        r
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so from_f64 never yields None for parsed input.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let next = seq.next_element_seed(self);
            let i = out.len();
            match self.within(|| Segment::Index(i), next)? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let message = format!("duplicate key {key}");
                *self.duplicate.borrow_mut() = Some(vec![Segment::Key(key)]);
                return Err(de::Error::custom(message));
            }
            let value = map.next_value_seed(self);
            let v = match value {
                Ok(v) => v,
                Err(e) => return self.within(|| Segment::Key(key), Err(e)),
            };
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_value_as_serde_json_without_duplicates() {
        for text in [
            r#"{"a":1,"b":[1,2.5,-3,"x",null,true,{"c":{}}],"d":"é\n"}"#,
            "[]",
            "17",
            r#""s""#,
            "null",
            r#"{"big":18446744073709551615,"neg":-9223372036854775808,"f":1e300}"#,
        ] {
            let strict = from_str(text).unwrap();
            let loose: Value = serde_json::from_str(text).unwrap();
            assert_eq!(strict, loose, "{text}");
        }
        // Key order is kept (serde_json's preserve_order), as the loose parser keeps it.
        let v = from_str(r#"{"z":1,"a":2}"#).unwrap();
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a"]);
    }

    #[test]
    fn a_repeated_key_is_named_at_any_depth() {
        let cases = [
            (
                r#"{"project_id":"p","checkpoint_id":"C","checkpoint_items":["x"],"checkpoint_items":null}"#,
                "checkpoint_items",
            ),
            (
                r#"{"select":{"project_id":"p","status":"available","status":"error"}}"#,
                "select.status",
            ),
            (r#"{"a":[{"b":1},{"b":1,"b":2}]}"#, "a[1].b"),
            (r#"{"context":{"k":{"x":1,"x":1}}}"#, "context.k.x"),
            (r#"[{"id":1,"id":1}]"#, "[0].id"),
        ];
        for (text, path) in cases {
            match from_str(text) {
                Err(StrictError::Duplicate { path: p }) => assert_eq!(p, path, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        // Equal keys in different objects are no duplicate.
        assert_eq!(
            from_str(r#"{"a":{"id":1},"b":{"id":1}}"#).unwrap(),
            json!({"a": {"id": 1}, "b": {"id": 1}})
        );
    }

    #[test]
    fn syntax_errors_stay_syntax_errors() {
        for text in ["", "{", r#"{"a":1}x"#, r#"{"a":1,}"#, "\u{feff}{}", "[1,]"] {
            assert!(matches!(from_str(text), Err(StrictError::Syntax(_))), "{text:?}");
        }
        // serde_json's depth limit holds here too: deep nesting is an error, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(matches!(from_str(&deep), Err(StrictError::Syntax(_))));
    }
}
