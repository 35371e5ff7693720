//! The one error type of the crate. Every message names what was wrong and where
//! (the calendar, the year, the file and line), so a caller can show it as is.

/// Why a calendar could not be built, loaded, or used for a computation.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// The computation needs a date in a year the calendar has no holiday data for
    /// (for example `cn` in 2027 before the State Council publishes the schedule).
    /// Never silently treated as ordinary weekdays.
    #[error("calendar {calendar} has no holiday data for {year}")]
    NoData { calendar: String, year: i32 },
    /// A calendar definition that makes no sense (no working hours at all, a date that
    /// is both a holiday and a working day, an empty range of years, …).
    #[error("invalid calendar {calendar}: {message}")]
    Invalid { calendar: String, message: String },
    /// An instant or a duration outside what the calendar can compute with
    /// (instants are handled from 1678 to 2262, as nanoseconds since 1970).
    #[error("calendar {calendar}: {message}")]
    OutOfRange { calendar: String, message: String },
    /// A calendar file could not be read.
    #[error("cannot read calendar file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A calendar file could not be understood; `line` is 1-based (0 if unknown).
    #[error("{source_name}:{line}: {message}")]
    Parse {
        source_name: String,
        line: usize,
        message: String,
    },
    /// Neither a calendar known to the registry nor a calendar file.
    #[error("unknown calendar {0:?} (give a known name or the path of a .toml, .json or .ics calendar file)")]
    Unknown(String),
}

impl CalendarError {
    pub(crate) fn invalid(calendar: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            calendar: calendar.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn out_of_range(calendar: &str, message: impl Into<String>) -> Self {
        Self::OutOfRange {
            calendar: calendar.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn parse(source_name: &str, line: usize, message: impl Into<String>) -> Self {
        Self::Parse {
            source_name: source_name.to_owned(),
            line,
            message: message.into(),
        }
    }
}
