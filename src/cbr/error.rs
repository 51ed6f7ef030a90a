//! What CBR's answers mean for a deletion (docs/DESIGN.md, "CBR targets"; docs/cbr-api.md §1).

use crate::cloud::{CloudError, ErrorClass};

/// "This backup is busy" (being backed up, restored, deleted or in use): the DELETE is not
/// refused for good; the backup is checked and the DELETE re-issued once it is idle.
pub const BUSY_CODES: [&str; 3] = ["CSBS.2003", "BackupService.6203", "BackupService.6216"];

/// What a failed CBR call means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CbrClass {
    /// The backup does not exist: `404 BackupService.6200`, or `CSBS.3001` (documented with
    /// 400 on DELETE). Which one the live service sends is not recorded, so both count.
    Gone,
    /// Busy: pending, not an error.
    Busy,
    /// Anything else, classified as for CSBS: a 404 without the service's own code is a
    /// configuration error, a 401 is an auth failure (never "gone"), other 4xx are permanent.
    Other(ErrorClass),
}

pub fn classify(e: &CloudError) -> CbrClass {
    if let CloudError::Api { status, code, .. } = e {
        match (*status, code.as_str()) {
            (404, "BackupService.6200" | "CSBS.3001") | (400, "CSBS.3001") => return CbrClass::Gone,
            (400, c) if BUSY_CODES.contains(&c) => return CbrClass::Busy,
            _ => {}
        }
    }
    CbrClass::Other(e.class())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::error::api_error;

    fn classify_answer(status: u16, body: &str) -> CbrClass {
        classify(&api_error(status, body.as_bytes(), None))
    }

    #[test]
    fn every_documented_answer_is_mapped() {
        let gone = [
            (
                404,
                r#"{"error_code":"BackupService.6200","error_msg":"The backup does not exist."}"#,
            ),
            (400, r#"{"error_code":"CSBS.3001","error_msg":"backup does not exist"}"#),
            (404, r#"{"error_code":"CSBS.3001","error_msg":"backup does not exist"}"#),
        ];
        for (s, b) in gone {
            assert_eq!(classify_answer(s, b), CbrClass::Gone, "{s} {b}");
        }
        for code in BUSY_CODES {
            let body = format!(r#"{{"error_code":"{code}","error_msg":"busy"}}"#);
            assert_eq!(classify_answer(400, &body), CbrClass::Busy, "{code}");
        }
        for code in [
            "BackupService.6201",
            "6201",
            "BackupService.6204",
            "BackupService.6220",
            "BackupService.6711",
            "BackupService.9900",
        ] {
            let body = format!(r#"{{"error_code":"{code}","error_msg":"refused"}}"#);
            assert_eq!(
                classify_answer(400, &body),
                CbrClass::Other(ErrorClass::Permanent),
                "{code}"
            );
        }
    }

    #[test]
    fn nothing_else_is_gone() {
        for (s, b) in [
            // A 401 with the body the Terraform provider maps to "not found": an auth error here.
            (
                401,
                r#"{"unauthorized":{"code":"401","message":"Malformed request url"}}"#,
            ),
            (
                404,
                r#"{"error_code":"APIGW.0101","error_msg":"The API does not exist"}"#,
            ),
            (404, "<html>Not Found</html>"),
            (404, ""),
            (
                404,
                r#"{"error_code":"BackupService.6105","error_msg":"The vault does not exist."}"#,
            ),
            (400, r#"{"error_code":"BackupService.6200","error_msg":"odd status"}"#),
        ] {
            let c = classify_answer(s, b);
            assert_ne!(c, CbrClass::Gone, "{s} {b}");
        }
        assert_eq!(
            classify_answer(
                401,
                r#"{"unauthorized":{"code":"401","message":"Malformed request url"}}"#
            ),
            CbrClass::Other(ErrorClass::Transient)
        );
        assert_eq!(
            classify_answer(404, "<html/>"),
            CbrClass::Other(ErrorClass::Misconfigured)
        );
        assert_eq!(classify_answer(503, "{}"), CbrClass::Other(ErrorClass::Transient));
    }
}
