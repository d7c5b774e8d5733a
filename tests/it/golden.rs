//! Golden vectors written by an independent protobuf implementation (Python
//! `opentelemetry-proto` on upb, see `tests/golden/generate.py`): each is
//! decoded with prost, re-encoded by tracewire from its own model, and must
//! come out byte for byte identical.

use crate::common;

use common::{decode, encode_model, model_of};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn reencode(name: &str) {
    let original = fixture(name);
    let models = model_of(&decode(&original));
    assert!(models.len() <= 1, "fixtures hold one ResourceSpans at most");
    let ours = match models.first() {
        Some((resource, scopes)) => encode_model(resource, scopes),
        None => Vec::new(),
    };
    if let Some(dir) = std::env::var_os("TRACEWIRE_GOLDEN_OUT") {
        // For `generate.py --verify`: let the independent implementation
        // decode what tracewire wrote.
        std::fs::write(std::path::Path::new(&dir).join(name), &ours).unwrap();
    }
    assert_eq!(ours.len(), original.len(), "{name}: length differs");
    assert!(
        ours == original,
        "{name}: bytes differ from the Python encoding"
    );
}

#[test]
fn proxy_batch() {
    reencode("proxy_batch.bin");
}

#[test]
fn full_schema() {
    let original = fixture("full_schema.bin");
    let req = decode(&original);
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    // The fixture really exercises what it claims to.
    assert_eq!(span.events.len(), 3);
    assert_eq!(span.links.len(), 2);
    assert!(span.attributes.iter().any(|kv| kv.key.is_empty()));
    assert!(span.attributes.iter().any(|kv| kv.key == "double.nan"));
    reencode("full_schema.bin");
}

#[test]
fn multi_scope() {
    assert_eq!(
        decode(&fixture("multi_scope.bin")).resource_spans[0]
            .scope_spans
            .len(),
        3
    );
    reencode("multi_scope.bin");
}

#[test]
fn unicode_and_extremes() {
    reencode("unicode_and_extremes.bin");
}

#[test]
fn empty() {
    reencode("empty.bin");
}
