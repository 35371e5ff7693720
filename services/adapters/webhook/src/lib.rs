//! The webhook channel adapter (being written).
