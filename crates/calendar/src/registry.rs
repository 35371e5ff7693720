//! A registry of calendars by name: the built-in ones (`cn`, `24x7`) plus any the
//! caller inserts or loads from a file. Clone it freely: it holds `Arc<Calendar>`s.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use crate::{cn, formats, Calendar, CalendarError};

/// Calendars by name.
#[derive(Debug, Clone, Default)]
pub struct Calendars {
    by_name: BTreeMap<String, Arc<Calendar>>,
}

impl Calendars {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// `cn` (mainland China, 2019-2026) and `24x7` (every day, all day, UTC).
    pub fn builtin() -> Self {
        let mut me = Self::new();
        if let Some(cn) = cn::shared() {
            me.by_name.insert(cn.name().to_owned(), cn);
        }
        if let Ok(always) = Calendar::always("24x7", chrono_tz::UTC) {
            me.insert(always);
        }
        me
    }

    /// The calendar of that name.
    pub fn get(&self, name: &str) -> Option<Arc<Calendar>> {
        self.by_name.get(name).cloned()
    }

    /// The names known, in order.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Adds a calendar under its name, replacing one of the same name.
    pub fn insert(&mut self, cal: Calendar) {
        self.by_name.insert(cal.name().to_owned(), Arc::new(cal));
    }

    /// A name known to the registry, or else a path to a calendar file (`.toml` or
    /// `.json` in the own format, `.json` in the holiday-cn format or a directory of
    /// them, `.ics`): the file is loaded, inserted under its calendar's name and
    /// returned. holiday-cn and .ics files take the time zone and working week of the
    /// `cn` base (Monday-Friday 09:00-18:00, Asia/Shanghai), an .ics file its
    /// `X-WR-TIMEZONE` if present.
    pub fn resolve(&mut self, name_or_path: &str) -> Result<Arc<Calendar>, CalendarError> {
        if let Some(cal) = self.get(name_or_path) {
            return Ok(cal);
        }
        let path = Path::new(name_or_path);
        let looks_like_path = name_or_path.contains(['/', '\\'])
            || [".toml", ".json", ".ics"]
                .iter()
                .any(|ext| name_or_path.to_ascii_lowercase().ends_with(ext));
        if !looks_like_path && !path.exists() {
            return Err(CalendarError::Unknown(name_or_path.to_owned()));
        }
        let cal = formats::load_path(path, &cn::base()?)?;
        let cal = Arc::new(cal);
        self.by_name.insert(cal.name().to_owned(), cal.clone());
        Ok(cal)
    }
}
