//! Classification: the category taxonomy and the priority matrix.
//!
//! **Taxonomy.** `OMBUDS_TAXONOMY` names a TOML file:
//! ```toml
//! # true: a category (and its sub-category) outside the list is accepted as given
//! free_categories = false
//! [categories]
//! network = ["coverage", "signal", "outage", "speed"]
//! staff_conduct = []          # no sub-categories
//! ```
//! Without it, [`Taxonomy::default`] applies: network (coverage, signal, outage, speed),
//! billing (charge, refund, plan), product (app, device, service_quality), service
//! (attitude, waiting, process), staff_conduct, account (login, security,
//! personal_data), other. A contact or a `Classify` naming an unknown category is
//! refused naming `category` (HTTP 400, gRPC INVALID_ARGUMENT), an unknown sub-category
//! naming `sub_category`, unless `free_categories` is true. An empty category is
//! allowed (routing may classify later); a sub-category without a category is not.
//!
//! **Priority.** Severity (impact) and urgency run from 1 (highest) to 4 (lowest); the
//! priority, 1 (highest) to 4 (lowest), is the ITIL impact × urgency matrix, 4×4:
//!
//! | severity \ urgency | 1 | 2 | 3 | 4 |
//! |---|---|---|---|---|
//! | 1 | 1 | 1 | 2 | 3 |
//! | 2 | 1 | 2 | 3 | 3 |
//! | 3 | 2 | 3 | 3 | 4 |
//! | 4 | 3 | 3 | 4 | 4 |
//!
//! The defaults, severity 3 and urgency 3, give priority 3.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::contact::FieldError;

/// The default severity and urgency.
pub const DEFAULT_LEVEL: u8 = 3;

const MATRIX: [[u8; 4]; 4] = [[1, 1, 2, 3], [1, 2, 3, 3], [2, 3, 3, 4], [3, 3, 4, 4]];

/// The priority of a severity and an urgency (each 1 to 4; out of range is clamped).
pub fn priority(severity: u8, urgency: u8) -> u8 {
    let i = |v: u8| usize::from(v.clamp(1, 4) - 1);
    MATRIX[i(severity)][i(urgency)]
}

/// A severity or urgency: 1 to 4, 0 meaning "not given" (`None`).
pub fn level(field: &str, v: i64) -> Result<Option<u8>, FieldError> {
    match v {
        0 => Ok(None),
        1..=4 => Ok(Some(v as u8)),
        _ => Err(FieldError::new(
            field,
            format!("must be 1 (highest) to 4 (lowest), got {v}"),
        )),
    }
}

/// The most tags on a complaint, and the longest tag in characters.
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;

/// Free tags: trimmed, empty ones dropped, each once.
pub fn tags(v: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for t in v.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if t.chars().count() > MAX_TAG_CHARS || t.contains('\0') {
            return Err(FieldError::new(
                "tags",
                format!("{t:?}: longer than {MAX_TAG_CHARS} characters or not text"),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(FieldError::new(
            "tags",
            format!("more than {MAX_TAGS} tags"),
        ));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Taxonomy {
    #[serde(default)]
    pub free_categories: bool,
    /// Category → its sub-categories (lower-case).
    pub categories: BTreeMap<String, Vec<String>>,
}

impl Default for Taxonomy {
    fn default() -> Self {
        let c = |subs: &[&str]| subs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Self {
            free_categories: false,
            categories: [
                ("network", c(&["coverage", "signal", "outage", "speed"])),
                ("billing", c(&["charge", "refund", "plan"])),
                ("product", c(&["app", "device", "service_quality"])),
                ("service", c(&["attitude", "waiting", "process"])),
                ("staff_conduct", c(&[])),
                ("account", c(&["login", "security", "personal_data"])),
                ("other", c(&[])),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        }
    }
}

impl Taxonomy {
    /// Parses the TOML form (see the module comment); names are lower-cased.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t: Taxonomy = toml::from_str(text).map_err(|e| e.to_string())?;
        if t.categories.is_empty() && !t.free_categories {
            return Err("no categories (and free_categories is not true)".into());
        }
        Ok(Self {
            free_categories: t.free_categories,
            categories: t
                .categories
                .into_iter()
                .map(|(k, v)| {
                    let v = v.into_iter().map(|s| s.trim().to_lowercase()).collect();
                    (k.trim().to_lowercase(), v)
                })
                .collect(),
        })
    }

    /// Checks a (lower-cased) category and sub-category.
    pub fn check(&self, category: &str, sub_category: &str) -> Result<(), FieldError> {
        if category.is_empty() {
            if sub_category.is_empty() {
                return Ok(());
            }
            return Err(FieldError::new("sub_category", "given without a category"));
        }
        let Some(subs) = self.categories.get(category) else {
            if self.free_categories {
                return Ok(());
            }
            return Err(FieldError::new(
                "category",
                format!(
                    "unknown category {category:?}; expected one of {}",
                    self.categories
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if sub_category.is_empty() || subs.iter().any(|s| s == sub_category) || self.free_categories
        {
            return Ok(());
        }
        Err(FieldError::new(
            "sub_category",
            if subs.is_empty() {
                format!("category {category:?} has no sub-categories, got {sub_category:?}")
            } else {
                format!(
                    "unknown sub-category {sub_category:?} of {category:?}; expected one of {}",
                    subs.join(", ")
                )
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_gives_priorities() {
        assert_eq!(priority(1, 1), 1);
        assert_eq!(priority(3, 3), 3);
        assert_eq!(priority(4, 4), 4);
        assert_eq!(priority(1, 4), 3);
        assert_eq!(priority(2, 2), 2);
        // Symmetric, and never better when either gets worse.
        for s in 1..=4 {
            for u in 1..=4 {
                assert_eq!(priority(s, u), priority(u, s));
                if s < 4 {
                    assert!(priority(s + 1, u) >= priority(s, u));
                }
            }
        }
    }

    #[test]
    fn levels_are_one_to_four() {
        assert_eq!(level("severity", 0), Ok(None));
        assert_eq!(level("severity", 2), Ok(Some(2)));
        let e = level("severity", 5).expect_err("5");
        assert_eq!(e.field, "severity");
        assert_eq!(level("urgency", -1).expect_err("-1").field, "urgency");
    }

    #[test]
    fn the_default_taxonomy_checks_names() {
        let t = Taxonomy::default();
        t.check("network", "coverage").expect("known");
        t.check("staff_conduct", "").expect("no subs");
        t.check("", "").expect("unclassified");
        assert_eq!(
            t.check("weather", "").expect_err("unknown").field,
            "category"
        );
        assert_eq!(
            t.check("network", "refund").expect_err("wrong sub").field,
            "sub_category"
        );
        assert_eq!(
            t.check("other", "x").expect_err("no subs").field,
            "sub_category"
        );
        assert_eq!(
            t.check("", "signal").expect_err("no cat").field,
            "sub_category"
        );
    }

    #[test]
    fn a_taxonomy_file_parses() {
        let t = Taxonomy::parse(
            "free_categories = false\n[categories]\nNetwork = [\"Coverage\"]\nother = []\n",
        )
        .expect("parse");
        t.check("network", "coverage").expect("lower-cased");
        assert!(t.check("billing", "").is_err());
        let free = Taxonomy::parse("free_categories = true\n[categories]\n").expect("free");
        free.check("anything", "at_all").expect("free");
        assert!(Taxonomy::parse("[categories]\n").is_err());
        assert!(Taxonomy::parse("categories = 3").is_err());
    }

    #[test]
    fn tags_are_trimmed_and_unique() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(tags(&v(&[" vip ", "", "vip", "5G"])), Ok(v(&["vip", "5G"])));
        assert_eq!(
            tags(&v(&[&"x".repeat(51)])).expect_err("long").field,
            "tags"
        );
    }
}
