//! The values of number lexemes.
//!
//! The tree keeps every number as the text it was written with; these
//! functions compute a value from that text when a consumer asks for one. They sit with the tree
//! rather than with the parser's scalar resolution (`parse::scalar`, which decides *whether* a
//! plain scalar is a number) so that the tree does not depend on its own parser.

/// The sign of a number lexeme and the text after it.
pub(crate) fn strip_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// The value of an integer lexeme, if it fits in an `i128`.
#[must_use]
pub fn int_value(text: &str) -> Option<i128> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, body) = strip_sign(&cleaned);
    let magnitude = if let Some(rest) = body.strip_prefix("0b") {
        i128::from_str_radix(rest, 2).ok()?
    } else if let Some(rest) = body.strip_prefix("0x") {
        i128::from_str_radix(rest, 16).ok()?
    } else if let Some(rest) = body.strip_prefix("0o") {
        i128::from_str_radix(rest, 8).ok()?
    } else {
        body.parse::<i128>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// The decimal digits of an integer lexeme of any size (`0x1F` → `31`), with a leading `-`
/// for negative values; `None` if the text is not an integer.
#[must_use]
pub fn int_decimal(text: &str) -> Option<String> {
    if let Some(value) = int_value(text) {
        return Some(value.to_string());
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, body) = strip_sign(&cleaned);
    let (radix, digits) = if let Some(rest) = body.strip_prefix("0b") {
        (2, rest)
    } else if let Some(rest) = body.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = body.strip_prefix("0o") {
        (8, rest)
    } else {
        (10, body)
    };
    let mut decimal: Vec<u8> = vec![0]; // little-endian base-10 digits
    for c in digits.chars() {
        let mut carry = c.to_digit(radix)?;
        for d in &mut decimal {
            let v = u32::from(*d) * radix + carry;
            *d = u8::try_from(v % 10).ok()?;
            carry = v / 10;
        }
        while carry > 0 {
            decimal.push(u8::try_from(carry % 10).ok()?);
            carry /= 10;
        }
    }
    while decimal.len() > 1 && decimal.last() == Some(&0) {
        decimal.pop();
    }
    let mut out: String = decimal.iter().rev().map(|d| char::from(b'0' + d)).collect();
    if negative && out != "0" {
        out.insert(0, '-');
    }
    Some(out)
}

/// The value of a float lexeme.
#[must_use]
pub fn float_value(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, body) = strip_sign(&cleaned);
    let magnitude = match body {
        ".inf" | ".Inf" | ".INF" => f64::INFINITY,
        ".nan" | ".NaN" | ".NAN" => f64::NAN,
        _ => {
            let body = body.strip_suffix('.').unwrap_or(body);
            let body = if body.starts_with('.') {
                format!("0{body}")
            } else {
                body.replace(".e", "e").replace(".E", "E")
            };
            body.parse::<f64>().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_values() {
        assert_eq!(int_value("010"), Some(10));
        assert_eq!(int_value("0o17"), Some(15));
        assert_eq!(int_value("-0x1F"), Some(-31));
        assert_eq!(int_value("1_000"), Some(1000));
        assert_eq!(
            int_decimal("123456789012345678901234567890123456789012").as_deref(),
            Some("123456789012345678901234567890123456789012")
        );
        assert_eq!(int_decimal("-0x1F").as_deref(), Some("-31"));
    }

    #[test]
    fn float_values() {
        assert_eq!(float_value("1e3"), Some(1000.0));
        assert_eq!(float_value("1."), Some(1.0));
        assert_eq!(float_value(".5"), Some(0.5));
        assert_eq!(float_value("-.inf"), Some(f64::NEG_INFINITY));
        assert!(float_value(".nan").is_some_and(f64::is_nan));
    }
}
