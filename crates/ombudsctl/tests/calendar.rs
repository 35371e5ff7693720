//! Runs the real `ombudsctl calendar due` / `calendar elapsed`: one RFC 3339 line (or
//! a number of seconds) on standard output in the calendar's offset, nothing else;
//! every error one line on standard error with a non-zero exit. No service runs: the
//! service URLs point at a closed port, to show that nothing is contacted.

use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ombudsctl(args: &[&str]) -> Run {
    let closed = "http://127.0.0.1:9";
    let out = Command::new(env!("CARGO_BIN_EXE_ombudsctl"))
        .args(args)
        .env("OMBUDS_INTAKE_GRPC_URL", closed)
        .env("OMBUDS_ROUTING_GRPC_URL", closed)
        .env("OMBUDS_SLA_GRPC_URL", closed)
        .env("OMBUDS_NOTIFICATION_GRPC_URL", closed)
        .env("OMBUDS_ANALYTICS_GRPC_URL", closed)
        .output()
        .expect("run ombudsctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Expects success with exactly `line` (plus a newline) on standard output.
fn ok(args: &[&str], line: &str) {
    let r = ombudsctl(args);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, format!("{line}\n").as_str(), ""),
        "{args:?}"
    );
}

/// Expects failure with one line on standard error starting `error: ` + `start`.
fn fails(args: &[&str], start: &str) {
    let r = ombudsctl(args);
    assert_ne!(r.code, 0, "{args:?}");
    assert_eq!(r.stdout, "", "{args:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!("error: {start}")),
        "{args:?}: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// A file in a fresh temporary directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ombudsctl-calendar-{}-{}",
            std::process::id(),
            name.replace('.', "-")
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write calendar file");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn due_on_cn_around_national_day_2025() {
    let from = "2025-09-30T10:00:00+08:00";
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            "cn",
            "--from",
            from,
            "--working-days",
            "2",
        ],
        "2025-10-10T18:00:00+08:00",
    );
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            "cn",
            "--from",
            from,
            "--working-days",
            "5",
        ],
        "2025-10-14T18:00:00+08:00",
    );
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            "cn",
            "--from",
            from,
            "--business-hours",
            "9",
        ],
        "2025-10-09T10:00:00+08:00",
    );
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            "cn",
            "--from",
            from,
            "--business-hours",
            "8.5",
        ],
        "2025-10-09T09:30:00+08:00",
    );
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            "cn",
            "--from",
            from,
            "--hours",
            "24",
        ],
        "2025-10-01T10:00:00+08:00",
    );
    // The rule can be switched: 1 working day as 9 business hours.
    ok(
        &[
            "calendar",
            "due",
            "--from",
            from,
            "--working-days",
            "1",
            "--rule",
            "business-time",
        ],
        "2025-10-09T10:00:00+08:00",
    );
    // Any offset in, the calendar's offset out; cn is the default calendar.
    ok(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-30T02:00:00Z",
            "--working-days",
            "2",
        ],
        "2025-10-10T18:00:00+08:00",
    );
    // Received on the make-up Sunday 28 September, 1 working day: Monday 29.
    ok(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-28T12:00:00+08:00",
            "--working-days",
            "1",
        ],
        "2025-09-29T18:00:00+08:00",
    );
}

#[test]
fn due_on_24x7_and_on_a_dst_calendar_file() {
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            "24x7",
            "--from",
            "2025-10-01T10:00:00+08:00",
            "--business-hours",
            "1.5",
        ],
        "2025-10-01T03:30:00+00:00",
    );
    let file = TempFile::new(
        "ny.toml",
        "name = \"ny\"\ntimezone = \"America/New_York\"\n[week]\nweekdays = [\"09:00-17:00\"]\n",
    );
    // Friday 7 March 2025 16:00 EST + 2 business hours crosses the spring change: Monday 10:00 EDT.
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            file.path(),
            "--from",
            "2025-03-07T16:00:00-05:00",
            "--business-hours",
            "2",
        ],
        "2025-03-10T10:00:00-04:00",
    );
    ok(
        &[
            "calendar",
            "elapsed",
            "--calendar",
            file.path(),
            "--from",
            "2025-03-03T00:00:00-05:00",
            "--to",
            "2025-03-10T00:00:00-04:00",
        ],
        "144000",
    );
}

#[test]
fn due_on_an_ics_calendar() {
    let file = TempFile::new(
        "holidays.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20251001\r\nDTEND;VALUE=DATE:20251009\r\n\
SUMMARY:National Day\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20250928\r\nSUMMARY:国庆节 补班\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n",
    );
    ok(
        &[
            "calendar",
            "due",
            "--calendar",
            file.path(),
            "--from",
            "2025-09-26T15:00:00+08:00",
            "--working-days",
            "3",
        ],
        "2025-09-30T18:00:00+08:00",
    );
}

#[test]
fn elapsed_prints_business_seconds() {
    ok(
        &[
            "calendar",
            "elapsed",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--to",
            "2025-10-09T10:00:00+08:00",
        ],
        "32400",
    );
    ok(
        &[
            "calendar",
            "elapsed",
            "--from",
            "2025-10-09T10:00:00+08:00",
            "--to",
            "2025-09-30T10:00:00+08:00",
        ],
        "0",
    );
    let r = ombudsctl(&[
        "calendar",
        "elapsed",
        "--from",
        "2025-09-30T10:00:00+08:00",
        "--to",
        "2025-09-30T10:00:01.5+08:00",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(j["business_seconds"], 1.5);
    assert_eq!(j["calendar"], "cn");
}

#[test]
fn json_output() {
    let r = ombudsctl(&[
        "calendar",
        "due",
        "--from",
        "2025-09-30T10:00:00+08:00",
        "--working-days",
        "2",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(j["deadline"], "2025-10-10T18:00:00+08:00");
    assert_eq!(j["timezone"], "Asia/Shanghai");
}

#[test]
fn errors_are_one_line() {
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2026-12-30T10:00:00+08:00",
            "--working-days",
            "5",
        ],
        "calendar cn has no holiday data for 2027",
    );
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2028-01-03T10:00:00+08:00",
            "--business-hours",
            "1",
        ],
        "calendar cn has no holiday data for 2028",
    );
    fails(
        &["calendar", "due", "--from", "yesterday", "--hours", "1"],
        "--from \"yesterday\": not an RFC 3339 instant",
    );
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-30T10:00:00",
            "--hours",
            "1",
        ],
        "--from \"2025-09-30T10:00:00\": not an RFC 3339",
    );
    fails(&["calendar", "due", "--hours", "1"], "--from is required");
    fails(
        &["calendar", "due", "--from", "2025-09-30T10:00:00+08:00"],
        "give exactly one of",
    );
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--hours",
            "1",
            "--working-days",
            "1",
        ],
        "give exactly one of",
    );
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--hours",
            "-1",
        ],
        "--hours \"-1\": expected a number of hours",
    );
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--working-days",
            "-1",
        ],
        "--working-days \"-1\"",
    );
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--business-hours",
            "lots",
        ],
        "--business-hours \"lots\"",
    );
    fails(
        &[
            "calendar",
            "due",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--working-days",
            "1",
            "--rule",
            "fast",
        ],
        "--rule \"fast\"",
    );
    fails(
        &[
            "calendar",
            "due",
            "--calendar",
            "mars",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--hours",
            "1",
        ],
        "unknown calendar \"mars\"",
    );
    fails(
        &[
            "calendar",
            "due",
            "--calendar",
            "/no/such/cal.ics",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--hours",
            "1",
        ],
        "cannot read calendar file /no/such/cal.ics",
    );
    let bad = TempFile::new(
        "bad.toml",
        "timezone = \"Mars/Olympus\"\n[week]\nmon = [\"09:00-17:00\"]\n",
    );
    fails(
        &[
            "calendar",
            "due",
            "--calendar",
            bad.path(),
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--hours",
            "1",
        ],
        &format!("{}:1: unknown time zone", bad.path()),
    );
    fails(
        &["calendar", "elapsed", "--from", "2025-09-30T10:00:00+08:00"],
        "--to is required",
    );
    // Far beyond what the calendar computes in: an error, not a panic.
    fails(
        &[
            "calendar",
            "due",
            "--calendar",
            "24x7",
            "--from",
            "2025-09-30T10:00:00+08:00",
            "--business-hours",
            "99999999999",
        ],
        "calendar 24x7:",
    );
}
