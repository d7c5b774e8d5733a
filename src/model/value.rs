//! Attribute values: the owned OTLP `AnyValue` / `KeyValue`, and the
//! borrowed [`ValueRef`] the recording API takes without copying.
//!
//! This module must never know how values are encoded.

use std::borrow::Cow;

/// An owned attribute value: the OTLP `AnyValue`, nested freely.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum AnyValue {
    /// An `AnyValue` with no value set (valid on the wire, rare in practice).
    #[default]
    Empty,
    /// A UTF-8 string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A double (NaN and infinities are carried bit for bit).
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array of values (which may mix types, as OTLP allows).
    Array(Vec<AnyValue>),
    /// A list of key-value pairs.
    KvList(Vec<KeyValue>),
}

/// An owned key-value pair (OTLP `KeyValue`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: AnyValue,
}

impl KeyValue {
    /// Builds a pair from anything convertible.
    ///
    /// ```
    /// use tracewire::model::{AnyValue, KeyValue};
    /// let kv = KeyValue::new("http.response.status_code", 200i64);
    /// assert_eq!(kv.value, AnyValue::Int(200));
    /// ```
    pub fn new(key: impl Into<String>, value: impl Into<AnyValue>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

macro_rules! any_from {
    ($($t:ty => $variant:ident $(via $conv:ident)?),* $(,)?) => {
        $(impl From<$t> for AnyValue {
            fn from(v: $t) -> Self {
                AnyValue::$variant(v $(.$conv())?)
            }
        })*
    };
}

any_from!(
    String => String,
    &str => String via to_owned,
    bool => Bool,
    i64 => Int,
    f64 => Double,
    Vec<u8> => Bytes,
    Vec<AnyValue> => Array,
    Vec<KeyValue> => KvList,
);

impl From<i32> for AnyValue {
    fn from(v: i32) -> Self {
        AnyValue::Int(i64::from(v))
    }
}

/// A borrowed attribute value, as the recording API takes it: nothing is
/// copied until the value is encoded into the span's buffer.
///
/// ```
/// use tracewire::model::ValueRef;
/// let methods: &[&str] = &["GET", "HEAD"];
/// let v = ValueRef::from(methods);
/// assert!(matches!(v, ValueRef::StrArray(_)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A double.
    F64(f64),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// An array of strings.
    StrArray(&'a [&'a str]),
    /// An array of integers.
    I64Array(&'a [i64]),
    /// An array of doubles.
    F64Array(&'a [f64]),
    /// An array of booleans.
    BoolArray(&'a [bool]),
    /// An array of arbitrary values.
    Array(&'a [ValueRef<'a>]),
    /// A nested key-value list.
    KvList(&'a [(&'a str, ValueRef<'a>)]),
    /// An owned value, borrowed.
    Any(&'a AnyValue),
}

macro_rules! ref_from {
    ($($t:ty => $variant:ident $(via $conv:ident)?),* $(,)?) => {
        $(impl<'a> From<$t> for ValueRef<'a> {
            fn from(v: $t) -> Self {
                ValueRef::$variant(v $(.$conv())?)
            }
        })*
    };
}

ref_from!(
    &'a str => Str,
    &'a String => Str via as_str,
    &'a Cow<'a, str> => Str via as_ref,
    bool => Bool,
    i64 => I64,
    f64 => F64,
    &'a [u8] => Bytes,
    &'a Vec<u8> => Bytes via as_slice,
    &'a [&'a str] => StrArray,
    &'a [i64] => I64Array,
    &'a [f64] => F64Array,
    &'a [bool] => BoolArray,
    &'a [ValueRef<'a>] => Array,
    &'a [(&'a str, ValueRef<'a>)] => KvList,
    &'a AnyValue => Any,
);

impl From<i32> for ValueRef<'_> {
    fn from(v: i32) -> Self {
        ValueRef::I64(i64::from(v))
    }
}

impl From<u32> for ValueRef<'_> {
    fn from(v: u32) -> Self {
        ValueRef::I64(i64::from(v))
    }
}

impl From<u16> for ValueRef<'_> {
    fn from(v: u16) -> Self {
        ValueRef::I64(i64::from(v))
    }
}

impl From<usize> for ValueRef<'_> {
    /// Values above `i64::MAX` saturate.
    fn from(v: usize) -> Self {
        ValueRef::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
