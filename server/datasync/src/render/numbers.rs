//! Decimal text, exactly: numbers are formatted from their digits, never through a float,
//! so `2.675 | decimals: 2` is `2.68` as a person reads it (a float holds 2.67499999…)
//! and a 400-digit numeric stays 400 digits instead of becoming `inf`.

/// A plain decimal number split into sign, integer digits and fraction digits:
/// `-1234.50` → ("-", "1234", Some("50")). `None` for anything else (`1e5`, `abc`).
pub fn split_number(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let s = s.trim();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && frac.is_none_or(digits)).then_some((sign, int, frac))
}

/// `1234567` → `1,234,567`.
pub fn group(int: &str, delim: &str) -> String {
    let mut out = String::with_capacity(int.len() + int.len() / 3 * delim.len());
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push_str(delim);
        }
        out.push(c);
    }
    out
}

/// Rounds a decimal number's text to `places` fraction digits, half away from zero
/// (2.675 → 2.68, -2.675 → -2.68, 0.5 → 1); pads with zeros when it has fewer. A result
/// of zero has no sign (-0.001 → 0.00). `None` if `s` is not a plain decimal number.
pub fn round_decimal(s: &str, places: usize) -> Option<String> {
    let (sign, int, frac) = split_number(s)?;
    let frac = frac.unwrap_or("");
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(places)).collect();
    digits.extend(std::iter::repeat_n(b'0', places.saturating_sub(frac.len())));
    let round_up = frac.as_bytes().get(places).is_some_and(|d| *d >= b'5');
    if round_up && !increment(&mut digits) {
        digits.insert(0, b'1');
    }
    let split = digits.len() - places;
    let (int_digits, frac_digits) = digits.split_at(split);
    let int_text = std::str::from_utf8(int_digits)
        .ok()?
        .trim_start_matches('0');
    let int_text = if int_text.is_empty() { "0" } else { int_text };
    let zero = int_text == "0" && frac_digits.iter().all(|d| *d == b'0');
    let mut out = String::with_capacity(digits.len() + 2);
    if !zero {
        out.push_str(sign);
    }
    out.push_str(int_text);
    if places > 0 {
        out.push('.');
        out.push_str(std::str::from_utf8(frac_digits).ok()?);
    }
    Some(out)
}

/// Adds one to a string of decimal digits; false when it overflowed (all nines → zeros).
fn increment(digits: &mut [u8]) -> bool {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_decimal_exact() {
        let cases = [
            ("2.675", 2, "2.68"),
            ("-2.675", 2, "-2.68"),
            ("2.674999", 2, "2.67"),
            ("9.995", 2, "10.00"),
            ("0.5", 0, "1"),
            ("-0.001", 2, "0.00"),
            ("1234.5", 2, "1234.50"),
            ("7", 3, "7.000"),
            ("+1.25", 1, "1.3"),
            ("007.5", 0, "8"),
        ];
        for (input, places, expected) in cases {
            assert_eq!(
                round_decimal(input, places).as_deref(),
                Some(expected),
                "{input}"
            );
        }
        assert_eq!(round_decimal("1e5", 2), None);
        let big = format!("{}.5", "9".repeat(400));
        let rounded = round_decimal(&big, 0).unwrap();
        assert_eq!(rounded, format!("1{}", "0".repeat(400)));
    }

    #[test]
    fn grouping() {
        assert_eq!(group("1234567", ","), "1,234,567");
        assert_eq!(group("123", ","), "123");
        assert_eq!(split_number("-12.5"), Some(("-", "12", Some("5"))));
        assert_eq!(split_number("1e5"), None);
    }
}
