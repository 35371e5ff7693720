//! Masking of personal data. Events, logs and analytics never carry a name, phone
//! number or e-mail address in plaintext: they carry a customer reference and the
//! masked forms made here (`138****5678`, `z***@example.com`, `张*`). Free text that
//! leaves intake goes through [`redact_text`], which masks anything shaped like a
//! phone number or an e-mail address.

/// `13812345678` → `138****5678`; `+86 138-1234-5678` → `+86138****5678`.
/// Short numbers keep only their last two digits.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    let n = digits.len();
    if n == 0 {
        return String::new();
    }
    if n < 7 {
        let keep = n.min(2);
        return "*".repeat(n - keep) + &digits[n - keep..].iter().collect::<String>();
    }
    let head: String = digits[..3.min(n)].iter().collect();
    let tail: String = digits[n - 4..].iter().collect();
    let hidden = n - head.chars().count() - 4;
    // Keep a country code with its leading three digits of the national number.
    if digits[0] == '+' && n > 11 {
        let cc_len = n - 11;
        let head: String = digits[..cc_len + 3].iter().collect();
        return format!("{head}{}{tail}", "*".repeat(n - cc_len - 7));
    }
    format!("{head}{}{tail}", "*".repeat(hidden))
}

/// `zhang.san@example.com` → `z***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.trim().split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None if email.trim().is_empty() => String::new(),
        None => "***".into(),
    }
}

/// `张三` → `张*`; `Alice Smith` → `A*********`.
pub fn mask_name(name: &str) -> String {
    let name = name.trim();
    let mut chars = name.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count();
            format!("{first}{}", "*".repeat(rest.max(1)))
        }
    }
}

/// Masks every e-mail address and every run of seven or more digits (allowing the
/// separators people type: spaces, dashes, dots, parentheses and a leading `+`).
pub fn redact_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = email_at(&chars, i) {
            let email: String = chars[i..end].iter().collect();
            out.push_str(&mask_email(&email));
            i = end;
            continue;
        }
        if let Some(end) = phone_at(&chars, i) {
            let phone: String = chars[i..end].iter().collect();
            out.push_str(&mask_phone(&phone));
            i = end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// [`redact_text`], and then every occurrence of the `known` personal values (the
/// customer's own name, address, social handles), which no pattern can recognise, is
/// masked as a name is (`张三` → `张*`). Values shorter than two characters are left
/// alone: masking every `王` in a text would hide the text, not the person.
pub fn redact_known(text: &str, known: &[&str]) -> String {
    let mut out = redact_text(text);
    let mut known: Vec<&str> = known
        .iter()
        .map(|k| k.trim())
        .filter(|k| k.chars().count() >= 2)
        .collect();
    // Longest first, so a full name is masked whole before a part of it.
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    for k in known {
        if out.contains(k) {
            out = out.replace(k, &mask_name(k));
        }
    }
    out
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

/// If an e-mail address starts at `i` (and not in the middle of a word), its end.
fn email_at(chars: &[char], i: usize) -> Option<usize> {
    if !is_local_char(chars[i]) || (i > 0 && is_local_char(chars[i - 1])) {
        return None;
    }
    let mut j = i;
    while j < chars.len() && is_local_char(chars[j]) {
        j += 1;
    }
    if j == i || j >= chars.len() || chars[j] != '@' {
        return None;
    }
    let start = j + 1;
    let mut k = start;
    while k < chars.len() && is_domain_char(chars[k]) {
        k += 1;
    }
    while k > start && (chars[k - 1] == '.' || chars[k - 1] == '-') {
        k -= 1;
    }
    let domain: String = chars[start..k].iter().collect();
    if domain.contains('.') && !domain.starts_with('.') {
        Some(k)
    } else {
        None
    }
}

/// If a phone-like run (7+ digits) starts at `i`, its end.
fn phone_at(chars: &[char], i: usize) -> Option<usize> {
    let c = chars[i];
    if !(c.is_ascii_digit() || c == '+' || c == '(') {
        return None;
    }
    if i > 0 && chars[i - 1].is_ascii_digit() {
        return None;
    }
    let mut j = i;
    let mut digits = 0;
    let mut last_digit_end = i;
    while j < chars.len() {
        let c = chars[j];
        if c.is_ascii_digit() {
            digits += 1;
            last_digit_end = j + 1;
        } else if !(c == ' '
            || c == '-'
            || c == '.'
            || c == '('
            || c == ')'
            || (c == '+' && j == i))
        {
            break;
        }
        j += 1;
    }
    (digits >= 7).then_some(last_digit_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "+86138****5678");
        assert_eq!(mask_email("zhang@example.com"), "z***@example.com");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_phone("12"), "12");
    }

    #[test]
    fn known_names_and_addresses_are_masked_too() {
        let text = "我是张三丰，住在朝阳区建国路88号，电话13812345678。张三丰";
        let r = redact_known(text, &["张三丰", "朝阳区建国路88号", "王", " "]);
        assert!(!r.contains("张三丰") && !r.contains("建国路88号"), "{r}");
        assert!(!r.contains("13812345678"), "{r}");
        assert!(r.contains("张**"), "{r}");
        assert_eq!(redact_known("王先生来电", &["王"]), "王先生来电");
        assert_eq!(
            redact_known(
                "Alice Smith called; Alice is upset",
                &["Alice Smith", "Alice"]
            ),
            "A********** called; A**** is upset"
        );
    }

    #[test]
    fn redaction_hides_phones_and_emails_in_text() {
        let text =
            "请回电 13812345678 或 138-1234-5678，邮件 zhang.san@example.com. Order 123456 ok";
        let r = redact_text(text);
        assert!(!r.contains("13812345678"), "{r}");
        assert!(!r.contains("1234-5678"), "{r}");
        assert!(!r.contains("zhang.san@example.com"), "{r}");
        assert!(r.contains("z***@example.com"), "{r}");
        assert!(r.contains("Order 123456 ok"), "short numbers stay: {r}");
        assert!(r.starts_with("请回电 138****5678"), "{r}");
    }
}
