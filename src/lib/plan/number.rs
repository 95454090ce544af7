//! How numbers become argv text in each compatibility mode.
//!
//! - `cwl` mode prints what cwltool prints: integers as decimal digits, floats as a plain decimal
//!   (never an exponent) shaped by the source text (`1.50` stays `1.50`, `1e-7` becomes
//!   `0.0000001`). cwltool gets there through ruamel's `ScalarFloat` re-emission and Python's
//!   `Decimal`; we replay ruamel's steps on the source lexeme the tree keeps.
//! - `cc` mode prints what cc-core 9.3 prints: Python's `str()`, i.e. `repr` for floats
//!   (shortest round-trip digits, `1e-07`, `1e+16`, `3.0`).
//!
//! Pure text functions; no I/O.

use crate::tree::number as lexeme_value;

/// Decimal text of an integer lexeme (`0x1F` → `31`), both modes; `None` if not an integer.
pub(crate) fn int_text(lexeme: &str) -> Option<String> {
    lexeme_value::int_decimal(lexeme)
}

/// cwltool's text for a float lexeme.
pub(crate) fn float_text_cwl(lexeme: &str) -> Option<String> {
    let value = lexeme_value::float_value(lexeme)?;
    if !value.is_finite() {
        return Some(python_special(value));
    }
    let cleaned: String = lexeme.chars().filter(|&c| c != '_').collect();
    let (negative, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    match body.find(['e', 'E']) {
        None => {
            // ruamel re-emits the binary value with as many decimals as were written.
            let decimals = body.find('.').map_or(0, |dot| body.len() - dot - 1);
            let text = format!("{:.*}", decimals, value.abs());
            Some(if negative || value.is_sign_negative() {
                format!("-{text}")
            } else {
                text
            })
        }
        Some(at) => {
            let mantissa = &cleaned[..cleaned.len() - body.len() + at];
            let (negative, digits, exponent) = ruamel_exponent_form(mantissa, value)?;
            Some(expand_decimal(negative, &digits, exponent))
        }
    }
}

/// ruamel.yaml's re-emission of a float written with an exponent (its `represent_scalar_float`,
/// step for step, quirks included): the mantissa is re-rendered from the binary value with the
/// written width, and leading zeros count only when the mantissa has no sign.
/// Returns (negative, mantissa as `digits` or `int.frac`, exponent); `None` where ruamel fails.
fn ruamel_exponent_form(mantissa: &str, value: f64) -> Option<(bool, String, i64)> {
    let m_sign = mantissa.chars().next().filter(|c| matches!(c, '-' | '+'));
    let width = mantissa.len() - usize::from(m_sign.is_some());
    let prec = mantissa.find('.');
    let lead0 = mantissa
        .chars()
        .take_while(|c| matches!(c, '0' | '.'))
        .filter(|c| *c == '0')
        .count();
    // Python's `format(value, ".Ne")`: the mantissa keeps its sign, as in `m` below.
    let rendered = format!("{:.*e}", width + usize::from(m_sign.is_some()), value);
    let (m, e) = rendered.split_once('e')?;
    let mut e: i64 = e.parse().ok()?;
    let mut w = if prec.is_some_and(|p| p > 0) {
        width
    } else {
        width + 1
    };
    if value < 0.0 {
        w += 1;
    }
    let m: String = m.chars().take(w).collect();
    let (m1, m2) = m.split_once('.')?;
    let (mut m1, mut m2) = (m1.to_owned(), m2.to_owned());
    while m1.len() + m2.len() < width - usize::from(prec.is_some()) {
        m2.push('0');
    }
    if m_sign == Some('+') && value > 0.0 {
        m1.insert(0, '+');
    }
    let len = |s: &str| i64::try_from(s.len()).unwrap_or(0);
    let (int_part, frac_part) = match prec {
        None => {
            if m2 == "0" {
                m2.clear();
            } else {
                e -= len(&m2);
            }
            while m1.len() + m2.len() - usize::from(m_sign.is_some()) < width {
                m2.push('0');
                e -= 1;
            }
            (format!("{m1}{m2}"), String::new())
        }
        Some(0) => {
            e -= len(&m2);
            (format!("{m1}{m2}"), String::new())
        }
        Some(prec) => {
            if lead0 > 0 {
                let joined = format!("{}{m1}{m2}", "0".repeat(lead0 - 1));
                m2 = joined[..joined.len().saturating_sub(lead0)].to_owned();
                m1 = String::from("0");
                e += i64::try_from(lead0).ok()?;
            }
            while m1.len() < prec {
                let first = m2.chars().next()?;
                m1.push(first);
                m2.remove(0);
                e -= 1;
            }
            (m1, m2)
        }
    };
    let negative = int_part.starts_with('-');
    let int_part = int_part.trim_start_matches(['-', '+']);
    let mantissa = if frac_part.is_empty() {
        int_part.to_owned()
    } else {
        format!("{int_part}.{frac_part}")
    };
    Some((negative, mantissa, e))
}

/// Plain decimal text of `mantissa × 10^exponent`, as Python's `format(Decimal(..), "f")`.
fn expand_decimal(negative: bool, mantissa: &str, exponent: i64) -> String {
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    // value = digits × 10^(exponent - frac_len)
    let scale = exponent - i64::try_from(frac_part.len()).unwrap_or(i64::MAX);
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let mut text = if scale >= 0 {
        let zeros = usize::try_from(scale).unwrap_or(0);
        if digits == "0" {
            String::from("0")
        } else {
            format!("{digits}{}", "0".repeat(zeros))
        }
    } else {
        let places = usize::try_from(-scale).unwrap_or(0);
        if digits.len() > places {
            let (whole, frac) = digits.split_at(digits.len() - places);
            format!("{whole}.{frac}")
        } else {
            format!("0.{}{digits}", "0".repeat(places - digits.len()))
        }
    };
    if negative {
        text.insert(0, '-');
    }
    text
}

/// Python's `repr` of a float.
pub(crate) fn float_text_python(value: f64) -> String {
    if !value.is_finite() {
        return python_special(value);
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Python's repr.
    let sci = format!("{:e}", value.abs());
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return sci;
    };
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = nearest_even(value.abs(), digits, exponent);
    let sign = if value < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let text = if point <= 0 {
            let zeros = usize::try_from(-point).unwrap_or(0);
            format!("0.{}{digits}", "0".repeat(zeros))
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() > point {
                format!("{}.{}", &digits[..point], &digits[point..])
            } else {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            }
        };
        format!("{sign}{text}")
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// Among the shortest round-trip digit strings, the one nearest the exact value, ties to even
/// (what Python's `repr` picks; Rust's shortest formatting may pick the other one of a tie).
fn nearest_even(value: f64, digits: String, exponent: i64) -> String {
    let n = digits.len();
    // Two shortest candidates can only tie when they are closer together than the spacing of
    // doubles, which needs 16 or more significant digits.
    if n < 16 {
        return digits;
    }
    let exact = format!("{:.*e}", n + 30, value);
    let Some((mantissa, exact_exponent)) = exact.split_once('e') else {
        return digits;
    };
    if exact_exponent.parse::<i64>().ok() != Some(exponent) {
        return digits;
    }
    let all: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let (head, rest) = all.split_at(n.min(all.len()));
    let round_up = match rest.first() {
        Some(b'6'..=b'9') => true,
        Some(b'5') if rest[1..].iter().any(|&d| d != b'0') => true,
        Some(b'5') => head.last().is_some_and(|d| (d - b'0') % 2 == 1),
        _ => false,
    };
    let mut candidate: Vec<u8> = head.to_vec();
    if round_up {
        let mut i = candidate.len();
        loop {
            if i == 0 {
                return digits; // carried past the first digit: keep what we had
            }
            i -= 1;
            if candidate[i] == b'9' {
                candidate[i] = b'0';
            } else {
                candidate[i] += 1;
                break;
            }
        }
    }
    let candidate = String::from_utf8(candidate).unwrap_or_default();
    if candidate == digits {
        return digits;
    }
    let text = format!("{}.{}e{exponent}", &candidate[..1], &candidate[1..]);
    if text.parse::<f64>().ok() == Some(value) {
        candidate
    } else {
        digits
    }
}

fn python_special(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else if value > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_cpython() {
        let cases = [
            (0.1, "0.1"),
            (3.0, "3.0"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1e-7, "1e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (123_456_789.123_456_79, "123456789.12345679"),
            (0.300_000_000_000_000_04, "0.30000000000000004"),
            (2.5e-3, "0.0025"),
            (-1.5, "-1.5"),
            (1.234_567e-10, "1.234567e-10"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1_761_770_820_295_196.2, "1761770820295196.2"),
            (912_950_636_098_912.2, "912950636098912.2"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_text_python(value), expected, "{value:?}");
        }
    }

    #[test]
    fn cwltool_text_keeps_written_decimals_and_expands_exponents() {
        let cases = [
            ("1.50", "1.50"),
            ("-0.0", "-0.0"),
            ("3.0", "3.0"),
            ("0.1", "0.1"),
            ("1e-7", "0.0000001"),
            ("2.5E-3", "0.0025"),
            ("1e16", "10000000000000000"),
            ("-1.25e1", "-12.5"),
            ("1.50e-1", "0.150"),
            ("123456789.123456789", "123456789.123456791"),
            ("0.30000000000000004", "0.30000000000000004"),
            (".inf", "inf"),
            ("-.inf", "-inf"),
            (".nan", "nan"),
        ];
        for (lexeme, expected) in cases {
            assert_eq!(
                float_text_cwl(lexeme).as_deref(),
                Some(expected),
                "{lexeme}"
            );
        }
        let big = float_text_cwl("1.5e300").unwrap_or_default();
        assert_eq!(big.len(), 301);
        assert!(big.starts_with("15000"));
    }

    #[test]
    fn integers_print_as_decimal() {
        assert_eq!(int_text("0x1F").as_deref(), Some("31"));
        assert_eq!(
            int_text("18446744073709551616").as_deref(),
            Some("18446744073709551616")
        );
        assert_eq!(int_text("-0").as_deref(), Some("0"));
    }

    proptest::proptest! {
        #[test]
        fn python_text_round_trips(bits in proptest::num::u64::ANY) {
            let value = f64::from_bits(bits);
            let text = float_text_python(value);
            if value.is_finite() {
                proptest::prop_assert_eq!(text.parse::<f64>().ok(), Some(value), "{}", text);
            }
        }
    }
}
