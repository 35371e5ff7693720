//! Routing rules: which department works on a complaint, and which rule said so.
//!
//! A decision is made in three steps, the first that matches wins:
//!
//! 1. **category rules**: the complaint's category, compared case-insensitively with
//!    each rule's `match` list. `network/coverage/4g` tries itself, then
//!    `network/coverage`, then `network`, so a rule for the top-level category also
//!    catches its sub-categories (the longest match wins).
//! 2. **keyword rules**: a case-insensitive substring of the (redacted) subject and
//!    body, Chinese included (`信号`, `账单`, ...). Rules are tried in file order.
//! 3. the **default** department.
//!
//! The built-in rules ([`Rules::builtin`]) follow the mobile-operator policy in
//! DESIGN.md (network → technical, billing → billing, ...). `OMBUDS_ROUTING_RULES`
//! may name a TOML file of the same shape, which replaces them:
//!
//! ```toml
//! default_department = "customer_service"
//!
//! [[rule]]
//! name = "network"
//! kind = "category"          # or "keyword"
//! match = ["network", "coverage"]
//! department = "technical"
//! ```
//!
//! A file that cannot be read or is not valid is a start-up error naming the file and
//! the problem, so a typo never silently routes everything to the default.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// The name recorded when no rule matched and the default department was used.
pub const DEFAULT_RULE: &str = "default";

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// The complaint's category (or its prefix before `/`).
    Category,
    /// Words in the subject and body.
    Keyword,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Category => "category",
            Self::Keyword => "keyword",
        }
    }
}

/// One routing rule. `matches` are kept trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub kind: RuleKind,
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    pub department: String,
}

/// Which department, and the rule that chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    pub department: &'a str,
    pub rule: &'a str,
}

/// A rules file that cannot be used; the message names the file and the problem.
#[derive(Debug, thiserror::Error)]
#[error("routing rules file {path}: {message}")]
pub struct RulesError {
    pub path: PathBuf,
    pub message: String,
}

/// The validated rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
    default_department: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    default_department: Option<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<Rule>,
}

/// The default department when a rules file does not name one.
pub const DEFAULT_DEPARTMENT: &str = "customer_service";

impl Rules {
    /// The rules used when `OMBUDS_ROUTING_RULES` is unset.
    pub fn builtin() -> Self {
        let rule = |name: &str, kind, matches: &[&str], department: &str| Rule {
            name: name.to_owned(),
            kind,
            matches: matches.iter().map(|m| (*m).to_owned()).collect(),
            department: department.to_owned(),
        };
        use RuleKind::{Category, Keyword};
        Self {
            rules: vec![
                rule("network", Category, &["network", "coverage"], "technical"),
                rule("billing", Category, &["billing"], "billing"),
                rule("product", Category, &["product"], "product"),
                rule("service", Category, &["service"], "customer_service"),
                rule("staff_conduct", Category, &["staff_conduct"], "quality"),
                rule("account", Category, &["account"], "customer_service"),
                rule(
                    "keyword_technical",
                    Keyword,
                    &[
                        "signal",
                        "network",
                        "coverage",
                        "outage",
                        "no service",
                        "信号",
                        "网络",
                        "断网",
                        "掉线",
                    ],
                    "technical",
                ),
                rule(
                    "keyword_billing",
                    Keyword,
                    &[
                        "bill",
                        "charge",
                        "refund",
                        "overcharg",
                        "扣费",
                        "账单",
                        "话费",
                        "退款",
                    ],
                    "billing",
                ),
            ],
            default_department: DEFAULT_DEPARTMENT.to_owned(),
        }
    }

    /// Reads and validates a rules file.
    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let fail = |message: String| RulesError {
            path: path.to_owned(),
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        Self::parse(&text).map_err(fail)
    }

    /// Parses and validates the TOML text of a rules file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .and_then(|s| text.get(..s.start))
                .map(|before| format!(" (line {})", before.matches('\n').count() + 1))
                .unwrap_or_default();
            format!("not a valid rules file{line}: {}", e.message().trim())
        })?;
        let default_department = match file.default_department {
            Some(d) => {
                let d = d.trim().to_owned();
                check_department(&d).map_err(|m| format!("default_department: {m}"))?;
                d
            }
            None => DEFAULT_DEPARTMENT.to_owned(),
        };
        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(file.rules.len());
        for (i, rule) in file.rules.into_iter().enumerate() {
            let at = format!("rule #{} ({:?})", i + 1, rule.name);
            let name = rule.name.trim().to_owned();
            if name.is_empty() {
                return Err(format!("rule #{}: name is empty", i + 1));
            }
            if name == DEFAULT_RULE {
                return Err(format!(
                    "{at}: the name {DEFAULT_RULE:?} is reserved for the default department"
                ));
            }
            if !names.insert(name.clone()) {
                return Err(format!("{at}: another rule has the same name"));
            }
            let department = rule.department.trim().to_owned();
            check_department(&department).map_err(|m| format!("{at}: department: {m}"))?;
            if rule.matches.is_empty() {
                return Err(format!(
                    "{at}: match is empty; list at least one {}",
                    rule.kind.as_str()
                ));
            }
            let mut matches = Vec::with_capacity(rule.matches.len());
            for m in rule.matches {
                let m = m.trim().to_lowercase();
                if m.is_empty() {
                    return Err(format!("{at}: match holds an empty string"));
                }
                matches.push(m);
            }
            rules.push(Rule {
                name,
                kind: rule.kind,
                matches,
                department,
            });
        }
        Ok(Self {
            rules,
            default_department,
        })
    }

    /// The rules named by `OMBUDS_ROUTING_RULES`, or the built-in ones when unset.
    pub fn from_config(cfg: &ombuds_platform::config::Config) -> Result<Self, RulesError> {
        match cfg.get("OMBUDS_ROUTING_RULES") {
            Some(path) => Self::load(Path::new(path)),
            None => Ok(Self::builtin()),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn default_department(&self) -> &str {
        &self.default_department
    }

    /// Picks the department for a complaint.
    pub fn decide(&self, category: &str, subject: &str, body: &str) -> Decision<'_> {
        if let Some(rule) = self.by_category(category) {
            return rule.decision();
        }
        if let Some(rule) = self.by_keyword(subject, body) {
            return rule.decision();
        }
        Decision {
            department: &self.default_department,
            rule: DEFAULT_RULE,
        }
    }

    fn by_category(&self, category: &str) -> Option<&Rule> {
        let mut candidate = category.trim().to_lowercase();
        while !candidate.is_empty() {
            let hit = self
                .rules
                .iter()
                .filter(|r| r.kind == RuleKind::Category)
                .find(|r| r.matches.contains(&candidate));
            if hit.is_some() {
                return hit;
            }
            match candidate.rfind('/') {
                Some(i) => candidate = candidate[..i].trim_end().to_owned(),
                None => break,
            }
        }
        None
    }

    fn by_keyword(&self, subject: &str, body: &str) -> Option<&Rule> {
        let text = format!("{subject}\n{body}").to_lowercase();
        self.rules
            .iter()
            .filter(|r| r.kind == RuleKind::Keyword)
            .find(|r| r.matches.iter().any(|m| text.contains(m.as_str())))
    }
}

impl Rule {
    fn decision(&self) -> Decision<'_> {
        Decision {
            department: &self.department,
            rule: &self.name,
        }
    }
}

/// Departments name queues: letters, digits, `_` and `-`. Also checks a transfer's
/// receiving department.
pub fn check_department(d: &str) -> Result<(), String> {
    if d.is_empty() {
        return Err("is empty".into());
    }
    if let Some(c) = d
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "{d:?} holds {c:?}; use letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide<'a>(
        rules: &'a Rules,
        category: &str,
        subject: &str,
        body: &str,
    ) -> (&'a str, &'a str) {
        let d = rules.decide(category, subject, body);
        (d.department, d.rule)
    }

    #[test]
    fn category_matches_exactly_and_case_insensitively() {
        let r = Rules::builtin();
        assert_eq!(decide(&r, "billing", "", ""), ("billing", "billing"));
        assert_eq!(decide(&r, " Billing ", "", ""), ("billing", "billing"));
        assert_eq!(decide(&r, "COVERAGE", "", ""), ("technical", "network"));
        assert_eq!(
            decide(&r, "staff_conduct", "", ""),
            ("quality", "staff_conduct")
        );
        assert_eq!(
            decide(&r, "account", "", ""),
            ("customer_service", "account")
        );
    }

    #[test]
    fn category_prefix_before_slash_matches() {
        let r = Rules::builtin();
        assert_eq!(
            decide(&r, "network/coverage", "", ""),
            ("technical", "network")
        );
        assert_eq!(
            decide(&r, "Billing/Roaming/EU", "", ""),
            ("billing", "billing")
        );
        // Not a prefix match: "net" is not "network".
        assert_eq!(
            decide(&r, "net/work", "", ""),
            ("customer_service", DEFAULT_RULE)
        );
    }

    #[test]
    fn the_longest_category_prefix_wins() {
        let r = Rules::parse(
            r#"
            [[rule]]
            name = "billing"
            kind = "category"
            match = ["billing"]
            department = "billing"
            [[rule]]
            name = "roaming"
            kind = "category"
            match = ["billing/roaming"]
            department = "roaming_desk"
            "#,
        )
        .expect("valid");
        assert_eq!(
            decide(&r, "billing/roaming/eu", "", ""),
            ("roaming_desk", "roaming")
        );
        assert_eq!(decide(&r, "billing/other", "", ""), ("billing", "billing"));
    }

    #[test]
    fn category_rules_come_before_keywords() {
        let r = Rules::builtin();
        assert_eq!(
            decide(&r, "product", "no signal", "refund please"),
            ("product", "product")
        );
    }

    #[test]
    fn keywords_match_in_subject_or_body_chinese_included() {
        let r = Rules::builtin();
        assert_eq!(
            decide(&r, "", "", "家里信号很差，电话经常掉线"),
            ("technical", "keyword_technical")
        );
        assert_eq!(
            decide(&r, "", "本月账单有误", ""),
            ("billing", "keyword_billing")
        );
        assert_eq!(
            decide(&r, "", "NO SERVICE since Monday", ""),
            ("technical", "keyword_technical")
        );
        assert_eq!(
            decide(&r, "", "", "I was Overcharged twice"),
            ("billing", "keyword_billing")
        );
        // An unknown category falls through to the keywords.
        assert_eq!(
            decide(&r, "misc", "", "网络断了"),
            ("technical", "keyword_technical")
        );
    }

    #[test]
    fn nothing_matching_goes_to_the_default() {
        let r = Rules::builtin();
        assert_eq!(
            decide(&r, "", "hello", "the shop was closed early"),
            ("customer_service", DEFAULT_RULE)
        );
        assert_eq!(decide(&r, "", "", ""), ("customer_service", DEFAULT_RULE));
    }

    #[test]
    fn a_rules_file_replaces_the_builtin_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rules.toml");
        std::fs::write(
            &path,
            r#"
            default_department = "front_desk"
            [[rule]]
            name = "vip"
            kind = "keyword"
            match = ["VIP", "贵宾"]
            department = "vip_care"
            "#,
        )
        .expect("write");
        let r = Rules::load(&path).expect("valid file");
        assert_eq!(r.rules().len(), 1);
        assert_eq!(r.rules()[0].matches, vec!["vip", "贵宾"]);
        assert_eq!(decide(&r, "billing", "我是贵宾", ""), ("vip_care", "vip"));
        assert_eq!(decide(&r, "billing", "", ""), ("front_desk", DEFAULT_RULE));

        let cfg = ombuds_platform::config::Config::from_pairs(
            "routing",
            [("OMBUDS_ROUTING_RULES", path.display().to_string())],
        );
        assert_eq!(Rules::from_config(&cfg).expect("loads"), r);
        let unset =
            ombuds_platform::config::Config::from_pairs("routing", Vec::<(String, String)>::new());
        assert_eq!(
            Rules::from_config(&unset).expect("builtin"),
            Rules::builtin()
        );
    }

    #[test]
    fn bad_rules_files_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("not toml", "[[rule]\nname ="),
            ("unknown kind", "[[rule]]\nname=\"a\"\nkind=\"regex\"\nmatch=[\"x\"]\ndepartment=\"d\""),
            ("empty match", "[[rule]]\nname=\"a\"\nkind=\"keyword\"\nmatch=[]\ndepartment=\"d\""),
            ("blank match", "[[rule]]\nname=\"a\"\nkind=\"keyword\"\nmatch=[\" \"]\ndepartment=\"d\""),
            ("no department", "[[rule]]\nname=\"a\"\nkind=\"keyword\"\nmatch=[\"x\"]"),
            ("bad department", "[[rule]]\nname=\"a\"\nkind=\"keyword\"\nmatch=[\"x\"]\ndepartment=\"a b\""),
            ("typo", "[[rule]]\nname=\"a\"\nkind=\"keyword\"\nmatches=[\"x\"]\ndepartment=\"d\""),
            (
                "duplicate name",
                "[[rule]]\nname=\"a\"\nkind=\"keyword\"\nmatch=[\"x\"]\ndepartment=\"d\"\n[[rule]]\nname=\"a\"\nkind=\"category\"\nmatch=[\"y\"]\ndepartment=\"d\"",
            ),
            ("reserved name", "[[rule]]\nname=\"default\"\nkind=\"keyword\"\nmatch=[\"x\"]\ndepartment=\"d\""),
            ("empty default", "default_department = \"\""),
        ];
        for (what, text) in cases {
            let path = dir.path().join("rules.toml");
            std::fs::write(&path, text).expect("write");
            let err = Rules::load(&path).expect_err(what);
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
            assert!(
                msg.len() > path.display().to_string().len() + 30,
                "{what}: {msg}"
            );
        }
        let missing = dir.path().join("missing.toml");
        let err = Rules::load(&missing).expect_err("missing file");
        assert!(err.to_string().contains("missing.toml"), "{err}");
        assert!(err.to_string().contains("cannot read"), "{err}");

        let err =
            Rules::parse("[[rule]]\nname=\"a\"\nkind=\"regex\"\nmatch=[\"x\"]\ndepartment=\"d\"")
                .expect_err("unknown kind");
        assert!(err.contains("regex"), "{err}");
        let err =
            Rules::parse("[[rule]]\nname=\"a\"\nkind=\"keyword\"\nmatch=[]\ndepartment=\"d\"")
                .expect_err("empty match");
        assert!(err.contains("match is empty"), "{err}");
    }
}
