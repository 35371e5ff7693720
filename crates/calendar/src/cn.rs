//! The built-in mainland China calendar `cn`: Monday to Friday 09:00-18:00,
//! Asia/Shanghai, with the official holidays and make-up working days (调休) of the
//! holiday-cn data embedded from `data/holiday-cn/<year>.json` at build time (see
//! `build.rs`). Years whose file is missing or still empty (2027 when the data was
//! taken) are not covered: dates in them are `NoData`.

use std::sync::{Arc, OnceLock};

use crate::{formats::holiday_cn, Calendar, CalendarError};

include!(concat!(env!("OUT_DIR"), "/holiday_cn.rs"));

/// The `cn` working week without holidays: Monday-Friday 09:00-18:00, Asia/Shanghai.
/// Also the base (time zone and week) of holiday-cn and .ics files loaded by name.
pub fn base() -> Result<Calendar, CalendarError> {
    Calendar::weekdays("cn", chrono_tz::Asia::Shanghai, &["09:00-18:00"])
}

/// Builds `cn` from the embedded data.
pub fn build() -> Result<Calendar, CalendarError> {
    holiday_cn::parse_files("cn", HOLIDAY_CN_FILES, &base()?)
}

/// `cn`, built once per process (`None` only if the embedded data were broken, which
/// the crate's tests rule out).
pub(crate) fn shared() -> Option<Arc<Calendar>> {
    static CN: OnceLock<Option<Arc<Calendar>>> = OnceLock::new();
    CN.get_or_init(|| build().ok().map(Arc::new)).clone()
}

/// The names of the embedded holiday-cn files.
pub fn embedded_files() -> impl Iterator<Item = &'static str> {
    HOLIDAY_CN_FILES.iter().map(|f| f.0)
}
