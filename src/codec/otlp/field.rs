//! OTLP field numbers, one module per message, named as in the `.proto`
//! files under `proto/` (opentelemetry-proto v1.10.0); and, in [`key`],
//! the one-byte keys of the fields that hot paths write or match byte by
//! byte, computed from those numbers.
#![allow(missing_docs)]

pub(crate) mod any_value {
    pub(crate) const STRING: u32 = 1;
    pub(crate) const BOOL: u32 = 2;
    pub(crate) const INT: u32 = 3;
    pub(crate) const DOUBLE: u32 = 4;
    pub(crate) const ARRAY: u32 = 5;
    pub(crate) const KVLIST: u32 = 6;
    pub(crate) const BYTES: u32 = 7;
}
/// `ArrayValue.values` and `KeyValueList.values`.
pub(crate) const LIST_VALUES: u32 = 1;
pub(crate) mod key_value {
    pub(crate) const KEY: u32 = 1;
    pub(crate) const VALUE: u32 = 2;
}
pub(crate) mod resource {
    pub(crate) const ATTRIBUTES: u32 = 1;
    pub(crate) const DROPPED_ATTRIBUTES_COUNT: u32 = 2;
}
pub(crate) mod scope {
    pub(crate) const NAME: u32 = 1;
    pub(crate) const VERSION: u32 = 2;
    pub(crate) const ATTRIBUTES: u32 = 3;
    pub(crate) const DROPPED_ATTRIBUTES_COUNT: u32 = 4;
}
pub(crate) mod request {
    pub(crate) const RESOURCE_SPANS: u32 = 1;
}
pub(crate) mod resource_spans {
    pub(crate) const RESOURCE: u32 = 1;
    pub(crate) const SCOPE_SPANS: u32 = 2;
    pub(crate) const SCHEMA_URL: u32 = 3;
}
pub(crate) mod scope_spans {
    pub(crate) const SCOPE: u32 = 1;
    pub(crate) const SPANS: u32 = 2;
    pub(crate) const SCHEMA_URL: u32 = 3;
}
pub(crate) mod span {
    pub(crate) const TRACE_ID: u32 = 1;
    pub(crate) const SPAN_ID: u32 = 2;
    pub(crate) const TRACE_STATE: u32 = 3;
    pub(crate) const PARENT_SPAN_ID: u32 = 4;
    pub(crate) const NAME: u32 = 5;
    pub(crate) const KIND: u32 = 6;
    pub(crate) const START_TIME: u32 = 7;
    pub(crate) const END_TIME: u32 = 8;
    pub(crate) const ATTRIBUTES: u32 = 9;
    pub(crate) const DROPPED_ATTRIBUTES_COUNT: u32 = 10;
    pub(crate) const EVENTS: u32 = 11;
    pub(crate) const DROPPED_EVENTS_COUNT: u32 = 12;
    pub(crate) const LINKS: u32 = 13;
    pub(crate) const DROPPED_LINKS_COUNT: u32 = 14;
    pub(crate) const STATUS: u32 = 15;
    pub(crate) const FLAGS: u32 = 16;
}
pub(crate) mod event {
    pub(crate) const TIME: u32 = 1;
    pub(crate) const NAME: u32 = 2;
    pub(crate) const ATTRIBUTES: u32 = 3;
    pub(crate) const DROPPED_ATTRIBUTES_COUNT: u32 = 4;
}
pub(crate) mod link {
    pub(crate) const TRACE_ID: u32 = 1;
    pub(crate) const SPAN_ID: u32 = 2;
    pub(crate) const TRACE_STATE: u32 = 3;
    pub(crate) const ATTRIBUTES: u32 = 4;
    pub(crate) const DROPPED_ATTRIBUTES_COUNT: u32 = 5;
    pub(crate) const FLAGS: u32 = 6;
}
pub(crate) mod status {
    pub(crate) const MESSAGE: u32 = 2;
    pub(crate) const CODE: u32 = 3;
}

/// One-byte keys (field number and wire type), named `MESSAGE_FIELD`.
pub(crate) mod key {
    use crate::codec::wire::WireType::{Fixed32, Fixed64, LengthDelimited, Varint};
    use crate::codec::wire::{key_byte, key_bytes2};

    pub(crate) const SPAN_TRACE_ID: u8 = key_byte(super::span::TRACE_ID, LengthDelimited);
    pub(crate) const SPAN_SPAN_ID: u8 = key_byte(super::span::SPAN_ID, LengthDelimited);
    pub(crate) const SPAN_TRACE_STATE: u8 = key_byte(super::span::TRACE_STATE, LengthDelimited);
    pub(crate) const SPAN_PARENT_SPAN_ID: u8 =
        key_byte(super::span::PARENT_SPAN_ID, LengthDelimited);
    pub(crate) const SPAN_KIND: u8 = key_byte(super::span::KIND, Varint);
    pub(crate) const SPAN_NAME: u8 = key_byte(super::span::NAME, LengthDelimited);
    pub(crate) const SPAN_START_TIME: u8 = key_byte(super::span::START_TIME, Fixed64);
    pub(crate) const SPAN_END_TIME: u8 = key_byte(super::span::END_TIME, Fixed64);
    pub(crate) const KEY_VALUE_KEY: u8 = key_byte(super::key_value::KEY, LengthDelimited);
    pub(crate) const KEY_VALUE_VALUE: u8 = key_byte(super::key_value::VALUE, LengthDelimited);
    pub(crate) const ANY_VALUE_STRING: u8 = key_byte(super::any_value::STRING, LengthDelimited);
    pub(crate) const ANY_VALUE_INT: u8 = key_byte(super::any_value::INT, Varint);
    pub(crate) const SPAN_STATUS: u8 = key_byte(super::span::STATUS, LengthDelimited);
    pub(crate) const STATUS_CODE: u8 = key_byte(super::status::CODE, Varint);
    /// `Span.flags` (field 16): two bytes.
    pub(crate) const SPAN_FLAGS: [u8; 2] = key_bytes2(super::span::FLAGS, Fixed32);
}

/// Bytes of a trace id and of a span id.
pub(crate) const TRACE_ID_BYTES: usize = 16;
pub(crate) const SPAN_ID_BYTES: usize = 8;

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn one_byte_keys_are_the_wire_bytes() {
        // As protoc writes them: (field << 3) | wire type.
        assert_eq!(key::SPAN_TRACE_ID, 0x0a);
        assert_eq!(key::SPAN_SPAN_ID, 0x12);
        assert_eq!(key::SPAN_TRACE_STATE, 0x1a);
        assert_eq!(key::SPAN_PARENT_SPAN_ID, 0x22);
        assert_eq!(key::SPAN_KIND, 0x30);
        assert_eq!(key::SPAN_NAME, 0x2a);
        assert_eq!(key::SPAN_START_TIME, 0x39);
        assert_eq!(key::SPAN_END_TIME, 0x41);
        assert_eq!(key::KEY_VALUE_KEY, 0x0a);
        assert_eq!(key::KEY_VALUE_VALUE, 0x12);
        assert_eq!(key::ANY_VALUE_STRING, 0x0a);
        assert_eq!(key::ANY_VALUE_INT, 0x18);
        assert_eq!(key::SPAN_STATUS, 0x7a);
        assert_eq!(key::STATUS_CODE, 0x18);
        assert_eq!(key::SPAN_FLAGS, [0x85, 0x01]);
    }
}
