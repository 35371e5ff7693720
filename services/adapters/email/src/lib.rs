//! The email channel adapter (being written).
