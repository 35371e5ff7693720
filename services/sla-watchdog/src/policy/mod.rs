//! SLA policies and policy packs (being written).
