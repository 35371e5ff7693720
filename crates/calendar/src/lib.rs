//! Business calendars (being written).
