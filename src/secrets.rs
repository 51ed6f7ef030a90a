//! Resolves the configured secrets once per container: from Secrets Manager when an ARN is
//! given, else from the environment. Errors name the variable, never the secret.

use crate::cloud::Credentials;
use crate::config::{Config, ConfigError, CredentialsSource, SecretSource};
use crate::secret::Secret;

/// The secrets a function needs.
#[derive(Debug, Clone)]
pub struct ResolvedSecrets {
    pub credentials: Credentials,
    pub webhook_secret: Option<Secret>,
}

async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    variable: &'static str,
    arn: &str,
) -> Result<String, ConfigError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError {
            variable,
            message: format!(
                "could not read the secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
            ),
        })?;
    out.secret_string().map(str::to_string).ok_or_else(|| ConfigError {
        variable,
        message: "the secret has no string value".into(),
    })
}

/// Reads the secrets; `client` is needed only when an ARN is configured. The two reads run
/// concurrently: each is a round trip to Secrets Manager on the cold-start path.
pub async fn resolve(
    config: &Config,
    client: Option<&aws_sdk_secretsmanager::Client>,
) -> Result<ResolvedSecrets, ConfigError> {
    let (credentials, webhook_secret) =
        futures::future::try_join(credentials(config, client), webhook_secret(config, client)).await?;
    if matches!(credentials, Credentials::Password { .. }) && config.iam_endpoint.is_none() {
        return Err(ConfigError {
            variable: "IAM_ENDPOINT",
            message: "is required for password (token) authentication".into(),
        });
    }
    Ok(ResolvedSecrets {
        credentials,
        webhook_secret,
    })
}

fn need<'a>(
    client: Option<&'a aws_sdk_secretsmanager::Client>,
    variable: &'static str,
) -> Result<&'a aws_sdk_secretsmanager::Client, ConfigError> {
    client.ok_or(ConfigError {
        variable,
        message: "a Secrets Manager client is required".into(),
    })
}

async fn credentials(
    config: &Config,
    client: Option<&aws_sdk_secretsmanager::Client>,
) -> Result<Credentials, ConfigError> {
    const VARIABLE: &str = "CSBS_CREDENTIALS_SECRET_ARN";
    match &config.credentials {
        CredentialsSource::Inline(c) => Ok(c.clone()),
        CredentialsSource::SecretArn(arn) => {
            let text = fetch(need(client, VARIABLE)?, VARIABLE, arn).await?;
            Credentials::from_json(&text).map_err(|m| ConfigError {
                variable: VARIABLE,
                message: m,
            })
        }
    }
}

async fn webhook_secret(
    config: &Config,
    client: Option<&aws_sdk_secretsmanager::Client>,
) -> Result<Option<Secret>, ConfigError> {
    const VARIABLE: &str = "WEBHOOK_SECRET_ARN";
    match &config.webhook_secret {
        None => Ok(None),
        Some(SecretSource::Inline(s)) => Ok(Some(s.clone())),
        Some(SecretSource::Arn(arn)) => {
            let text = fetch(need(client, VARIABLE)?, VARIABLE, arn).await?;
            // A plain string, or a JSON object {"secret": "..."} as the console creates.
            let value = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("secret").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or(text);
            if value.len() < 16 {
                return Err(ConfigError {
                    variable: VARIABLE,
                    message: "the secret must be at least 16 characters".into(),
                });
            }
            Ok(Some(Secret::new(value)))
        }
    }
}
