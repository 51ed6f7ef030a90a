//! `--iam`: requests to an HTTP API deployed with `HttpAuth=iam` are signed with AWS SigV4, with
//! the credentials of the standard AWS chain (environment, profile, SSO cache, container or
//! instance role) and the AWS SDK's own signer (aws-sigv4), never a hand-rolled one.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use super::{Failure, refused, unavailable};

/// What a SigV4 signature is scoped to, and with what.
pub struct IamSigner {
    credentials: Credentials,
    region: String,
    service: &'static str,
}

/// The service and region of an HTTP API or function URL host: `{id}.execute-api.{region}.
/// amazonaws.com[.cn]` → `execute-api`, `{id}.lambda-url.{region}.on.aws` → `lambda`; any other
/// host (a custom domain, a local server) is an `execute-api` in the configured region.
pub fn scope_of(host: &str) -> (&'static str, Option<String>) {
    let labels: Vec<&str> = host.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        let service = match *label {
            "execute-api" => "execute-api",
            "lambda-url" => "lambda",
            _ => continue,
        };
        return (service, labels.get(i + 1).map(|r| r.to_string()));
    }
    ("execute-api", None)
}

impl IamSigner {
    /// Credentials from the standard chain, for requests to `url`.
    pub async fn for_url(url: &url::Url) -> Result<Self, Failure> {
        let (service, region) = scope_of(url.host_str().unwrap_or_default());
        let aws = crate::wiring::aws_from_env().await;
        let region = region
            .or_else(|| aws.region().map(|r| r.to_string()))
            .ok_or_else(|| refused("--iam: the URL names no region; set AWS_REGION"))?;
        let provider = aws
            .credentials_provider()
            .ok_or_else(|| refused("--iam: no AWS credentials provider is configured"))?;
        let credentials = tokio::time::timeout(Duration::from_secs(30), provider.provide_credentials())
            .await
            .map_err(|_| unavailable("--iam: the AWS credential chain did not answer within 30 s"))?
            // The chain's errors name the sources it tried, never a secret.
            .map_err(|e| refused(format!("--iam: no AWS credentials: {e}")))?;
        Ok(IamSigner {
            credentials,
            region,
            service,
        })
    }

    /// Signs `req` (its method, URI, headers and body) at `time`: the Authorization,
    /// X-Amz-Date and, with temporary credentials, X-Amz-Security-Token headers are added.
    pub fn sign(&self, req: &mut http::Request<Vec<u8>>, time: SystemTime) -> Result<(), Failure> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| refused(format!("--iam: {e}")))?
            .into();
        let uri = req.uri().to_string();
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            &uri,
            headers.into_iter(),
            SignableBody::Bytes(req.body()),
        )
        .map_err(|e| refused(format!("--iam: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| refused(format!("--iam: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_comes_from_the_host() {
        let cases = [
            (
                "abc123.execute-api.eu-central-1.amazonaws.com",
                ("execute-api", Some("eu-central-1")),
            ),
            (
                "abc123.execute-api.cn-north-1.amazonaws.com.cn",
                ("execute-api", Some("cn-north-1")),
            ),
            ("a1b2c3.lambda-url.eu-west-1.on.aws", ("lambda", Some("eu-west-1"))),
            ("deletions.example.com", ("execute-api", None)),
            ("127.0.0.1", ("execute-api", None)),
        ];
        for (host, (service, region)) in cases {
            let (s, r) = scope_of(host);
            assert_eq!((s, r.as_deref()), (service, region), "{host}");
        }
    }

    #[test]
    fn a_signed_request_carries_the_sigv4_headers_over_what_is_sent() {
        let signer = IamSigner {
            credentials: Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                Some("session-token".into()),
                None,
                "test",
            ),
            region: "eu-central-1".into(),
            service: "execute-api",
        };
        let body = br#"{"project_id":"p","checkpoint_id":"c"}"#.to_vec();
        let mut a = http::Request::post("https://abc.execute-api.eu-central-1.amazonaws.com/deletions")
            .header("content-type", "application/json")
            .body(body.clone())
            .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_979_200);
        signer.sign(&mut a, at).unwrap();
        let auth = a.headers()["authorization"].to_str().unwrap().to_string();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251206/eu-central-1/execute-api/aws4_request"),
            "{auth}"
        );
        assert_eq!(a.headers()["x-amz-date"], "20251206T000000Z");
        assert_eq!(a.headers()["x-amz-security-token"], "session-token");
        assert!(!auth.contains("wJalrXUtnFEMI"), "the secret key never leaves");
        // Another body is another signature: the signature covers what is sent.
        let mut b = http::Request::post("https://abc.execute-api.eu-central-1.amazonaws.com/deletions")
            .header("content-type", "application/json")
            .body(br#"{"project_id":"p","checkpoint_id":"d"}"#.to_vec())
            .unwrap();
        signer.sign(&mut b, at).unwrap();
        assert_ne!(b.headers()["authorization"], a.headers()["authorization"]);
    }
}
