//! Nothing here: the model is `chunk.rs` (`cargo test --release`).
