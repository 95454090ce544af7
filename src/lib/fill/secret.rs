//! [`Secret`]: a credential that cannot be printed by accident.
//!
//! Every protected value (a value typed at a hidden prompt, read from a variables file or the
//! environment for a protected variable, or written literally below a protected key) is held in
//! a `Secret` from the moment it is read until a connector uses it. `Debug` and `Display` print
//! `********`; there is no `Serialize`, so a secret cannot slip into JSON; the only way to the
//! text is [`Secret::expose`], whose callers are few and easy to audit. The memory is zeroed
//! when the value is dropped.

use std::fmt;

use zeroize::Zeroizing;

use crate::redact::MASK;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a value. The `String` is moved in, so no second copy stays behind.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The value itself: only for code that hands it to its final user (a connector, the
    /// filled document, the redactor).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let secret = Secret::new("hunter2(".to_owned());
        assert_eq!(format!("{secret}"), MASK);
        assert_eq!(format!("{secret:?}"), MASK);
        assert_eq!(format!("{:?}", Some(&secret)), format!("Some({MASK})"));
        assert_eq!(format!("{secret:>20}"), MASK);
        assert_eq!(secret.expose(), "hunter2(");
    }

    #[test]
    fn zeroizing_wrapper_clears_the_buffer() {
        // `Zeroizing` zeroes on drop; check the same call on a live buffer.
        use zeroize::Zeroize;
        let mut value = String::from("s3cret");
        value.zeroize();
        assert!(value.is_empty());
    }
}
