//! The hotline channel adapter (being written).
