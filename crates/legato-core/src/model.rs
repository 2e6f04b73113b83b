//! Typed views of the entity states for the UI and the CLI. The wire and the store keep the
//! JSON state (so unknown fields survive); these types convert to and from it.
