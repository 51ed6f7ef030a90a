//! Identifier validation. Every ID that ends up in a CSBS URL passes through here first:
//! only `[A-Za-z0-9_-]{1,64}` is allowed, so `/`, `?`, `%`, `..` and friends can never
//! change which resource a request addresses.

use thiserror::Error;

/// Longest accepted identifier (CSBS IDs are 32–36 characters; 64 leaves room).
pub const MAX_ID_LEN: usize = 64;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {MAX_ID_LEN} characters")]
    TooLong { field: &'static str },
    #[error("{field} may contain only letters, digits, '-' and '_'")]
    BadCharacter { field: &'static str },
}

/// Checks one identifier; `field` names it in the error.
pub fn validate_id(field: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { field });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { field });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IdError::BadCharacter { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuid_and_hex_ids() {
        assert!(validate_id("project_id", "0123456789abcdef0123456789abcdef").is_ok());
        assert!(validate_id("checkpoint_id", "2eefe592-8424-4778-8d0d-962c8a5dd6a4").is_ok());
        assert!(validate_id("x", "a_b-C9").is_ok());
    }

    #[test]
    fn refuses_anything_that_could_change_a_url() {
        for bad in ["a/b", "a?b", "..", "a%2Fb", "a b", "a#b", "é", "a.b", "a\nb"] {
            assert_eq!(
                validate_id("checkpoint_id", bad),
                Err(IdError::BadCharacter { field: "checkpoint_id" }),
                "{bad:?}"
            );
        }
        assert_eq!(validate_id("p", ""), Err(IdError::Empty { field: "p" }));
        assert_eq!(validate_id("p", &"a".repeat(65)), Err(IdError::TooLong { field: "p" }));
        assert!(validate_id("p", &"a".repeat(64)).is_ok());
    }
}
