//! What the options mean: the tree a syntax produced, read option by
//! option (`read`, `sections`, `declarative`), over the `OTEL_*`
//! environment (`env`) and the defaults, into one validated [`Config`]
//! (`resolve`, `types`); `substitute` expands `${VAR}` in a declarative
//! file's values.
//!
//! Nothing here knows how an option was written (YAML, TOML or a flag:
//! `config::syntax` made the tree) or how a configuration is printed
//! (`config::display`). This module must never panic on user input, and
//! never put a header value or a credential in an error.
//!
//! [`Config`]: types::Config

pub(in crate::config) mod declarative;
pub(in crate::config) mod env;
pub(in crate::config) mod read;
pub(in crate::config) mod resolve;
pub(in crate::config) mod sections;
pub(in crate::config) mod substitute;
pub(in crate::config) mod types;
