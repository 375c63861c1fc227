//! JSON as Python's `json.dumps` writes it, for files trainers write
//! (transformers' `trainer_state.json`): `NaN`, `Infinity` and `-Infinity` appear as
//! bare tokens (e.g. `grad_norm` after an fp16 overflow), which strict JSON and
//! serde_json reject.
//!
//! [`PyJsonReader`] is a streaming pre-pass: outside strings it turns those three tokens
//! into the JSON strings `"NaN"`, `"Infinity"`, `"-Infinity"`, and passes everything
//! else through byte for byte, so serde_json reads the result with no copy of the file.
//! [`Scalar`] reads any JSON value as a leaf, mapping those strings back to the
//! non-finite floats. Memory stays bounded by what the caller keeps; [`read_capped`]
//! refuses files over a size cap before reading anything.

use std::io::{self, Read};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Where the pre-pass is within the JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    InString,
    Escape,
    /// A `-` outside a string, held until the next byte says number or `-Infinity`.
    Minus,
    /// Inside a non-finite token whose replacement is already out: skip `rest[at..]`.
    Token {
        rest: &'static [u8],
        at: usize,
    },
}

/// A `Read` adapter that makes Python's non-finite tokens readable (see the module doc).
pub(crate) struct PyJsonReader<R> {
    inner: R,
    state: State,
    inbuf: Box<[u8]>,
    out: Vec<u8>,
    out_at: usize,
    eof: bool,
}

impl<R: Read> PyJsonReader<R> {
    pub fn new(inner: R) -> Self {
        PyJsonReader {
            inner,
            state: State::Normal,
            inbuf: vec![0u8; 64 * 1024].into_boxed_slice(),
            out: Vec::with_capacity(64 * 1024),
            out_at: 0,
            eof: false,
        }
    }

    fn push(&mut self, b: u8) {
        match self.state {
            State::Normal => self.normal(b),
            State::InString => {
                self.out.push(b);
                self.state = match b {
                    b'\\' => State::Escape,
                    b'"' => State::Normal,
                    _ => State::InString,
                };
            }
            State::Escape => {
                self.out.push(b);
                self.state = State::InString;
            }
            State::Minus => {
                if b == b'I' {
                    self.out.extend_from_slice(b"\"-Infinity\"");
                    self.state = State::Token {
                        rest: b"nfinity",
                        at: 0,
                    };
                } else {
                    self.out.push(b'-');
                    self.state = State::Normal;
                    self.normal(b);
                }
            }
            State::Token { rest, at } => {
                if rest.get(at) == Some(&b) {
                    self.state = if at + 1 == rest.len() {
                        State::Normal
                    } else {
                        State::Token { rest, at: at + 1 }
                    };
                } else {
                    // Not the token after all (`Nope`): pass the byte on so the JSON
                    // parser reports the text as invalid.
                    self.state = State::Normal;
                    self.normal(b);
                }
            }
        }
    }

    fn normal(&mut self, b: u8) {
        match b {
            b'"' => {
                self.out.push(b);
                self.state = State::InString;
            }
            b'-' => self.state = State::Minus,
            b'N' => {
                self.out.extend_from_slice(b"\"NaN\"");
                self.state = State::Token { rest: b"aN", at: 0 };
            }
            b'I' => {
                self.out.extend_from_slice(b"\"Infinity\"");
                self.state = State::Token {
                    rest: b"nfinity",
                    at: 0,
                };
            }
            _ => self.out.push(b),
        }
    }
}

impl<R: Read> Read for PyJsonReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_at == self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.out.clear();
            self.out_at = 0;
            let n = match self.inner.read(&mut self.inbuf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                if self.state == State::Minus {
                    self.out.push(b'-');
                }
                continue;
            }
            let chunk = std::mem::take(&mut self.inbuf);
            for &b in &chunk[..n] {
                self.push(b);
            }
            self.inbuf = chunk;
        }
        let n = buf.len().min(self.out.len() - self.out_at);
        buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
        self.out_at += n;
        Ok(n)
    }
}

/// Why a capped read did not happen.
#[derive(Debug)]
pub(crate) enum CappedError {
    /// The file is larger than the cap: nothing was read.
    TooLarge {
        bytes: u64,
        cap: u64,
    },
    Io(io::Error),
    Json(serde_json::Error),
}

impl std::fmt::Display for CappedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CappedError::TooLarge { bytes, cap } => write!(
                f,
                "{bytes} bytes, more than the {cap} bytes ckpt reads from such a file; not read"
            ),
            CappedError::Io(e) => write!(f, "cannot read ({e})"),
            CappedError::Json(e) => match e.classify() {
                serde_json::error::Category::Io => write!(f, "cannot read ({e})"),
                // Valid JSON of the wrong shape (the top level is not what is expected).
                serde_json::error::Category::Data => write!(f, "not a JSON object ({e})"),
                _ => write!(f, "not JSON ({e})"),
            },
        }
    }
}

/// Deserialize from a Python-written JSON file of at most `cap` bytes, streaming (the
/// file is never held in memory whole), through a seed (to keep only part of what the
/// file holds; `PhantomData<T>` keeps all of a `T`).
pub(crate) fn read_capped_seed<'de, S: de::DeserializeSeed<'de>>(
    path: &std::path::Path,
    cap: u64,
    seed: S,
) -> Result<S::Value, CappedError> {
    let f = std::fs::File::open(path).map_err(CappedError::Io)?;
    let bytes = f.metadata().map_err(CappedError::Io)?.len();
    if bytes > cap {
        return Err(CappedError::TooLarge { bytes, cap });
    }
    // `take` also bounds a file that grows while it is read.
    let r = io::BufReader::new(PyJsonReader::new(f.take(cap)));
    let mut de = serde_json::Deserializer::from_reader(r);
    let v = seed.deserialize(&mut de).map_err(CappedError::Json)?;
    de.end().map_err(CappedError::Json)?;
    Ok(v)
}

/// A JSON object read as flat `(key, scalar)` pairs, in file order (nested values are
/// [`Scalar::Nested`]); anything but an object reads as no pairs.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Record(pub Vec<(String, Scalar)>);

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Record, A::Error> {
                let mut v = Vec::new();
                while let Some((k, s)) = a.next_entry::<String, Scalar>()? {
                    v.push((k, s));
                }
                Ok(Record(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Record, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Record::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Record, E> {
                Ok(Record::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Record, E> {
                Ok(Record::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Record, E> {
                Ok(Record::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Record, E> {
                Ok(Record::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Record, E> {
                Ok(Record::default())
            }
            fn visit_unit<E>(self) -> Result<Record, E> {
                Ok(Record::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON value read as a leaf: numbers (and Python's non-finite tokens) as numbers,
/// strings, booleans; arrays and objects are skipped without being built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Unsigned(u64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    /// An array or an object (skipped).
    Nested,
}

impl Scalar {
    /// The value as a number: JSON numbers, and the non-finite tokens Python writes.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Unsigned(u) => Some(*u as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Str(s) => non_finite(s),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Unsigned(u) => Some(*u),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// `NaN`, `Infinity`, `-Infinity` as [`PyJsonReader`] spells them.
pub(crate) fn non_finite(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> String {
        let mut out = String::new();
        PyJsonReader::new(s.as_bytes())
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn non_finite_tokens_become_strings_outside_strings_only() {
        assert_eq!(
            pass(r#"{"a": NaN, "b": -Infinity, "c": Infinity, "d": -1.5e-3}"#),
            r#"{"a": "NaN", "b": "-Infinity", "c": "Infinity", "d": -1.5e-3}"#
        );
        let s = r#"{"NaN": "Infinity -Infinity \" NaN", "x": [NaN,-Infinity]}"#;
        assert_eq!(
            pass(s),
            r#"{"NaN": "Infinity -Infinity \" NaN", "x": ["NaN","-Infinity"]}"#
        );
        // Invalid text stays invalid.
        assert!(serde_json::from_str::<serde_json::Value>(&pass("[Nope]")).is_err());
        assert_eq!(pass("-"), "-");
    }

    #[test]
    fn tokens_split_across_reads_are_handled() {
        // A reader that hands out one byte at a time.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.split_first() {
                    Some((b, rest)) if !buf.is_empty() => {
                        buf[0] = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut out = String::new();
        PyJsonReader::new(OneByte(br#"[-Infinity, NaN, "a\"N"]"#))
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, r#"["-Infinity", "NaN", "a\"N"]"#);
        let v: Vec<Scalar> = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0].as_f64(), Some(f64::NEG_INFINITY));
        assert!(v[1].as_f64().unwrap().is_nan());
        assert_eq!(v[2].as_f64(), None);
    }

    #[test]
    fn capped_read_refuses_a_large_file_before_reading() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s.json");
        std::fs::write(&p, br#"{"grad_norm": NaN, "x": [1, 2, {"y": Infinity}]}"#).unwrap();
        let all = std::marker::PhantomData::<std::collections::BTreeMap<String, Scalar>>;
        let v = read_capped_seed(&p, 1 << 20, all).unwrap();
        assert!(v["grad_norm"].as_f64().unwrap().is_nan());
        assert_eq!(v["x"], Scalar::Nested);
        assert!(matches!(
            read_capped_seed(&p, 10, std::marker::PhantomData::<Scalar>),
            Err(CappedError::TooLarge { cap: 10, .. })
        ));
    }
}
