//! The simulator's IAM and API gateway: token issuing (`POST /v3/auth/tokens`) and the
//! checks of tokens and AK/SK signatures, answered as the gateway answers (`APIGW.0301`,
//! `APIGW.0302`).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::faults::Route;
use super::server::{apply_faults, error};
use super::{IssuedToken, Simulator};
use crate::cloud::signer::{DATE_FORMAT, SignInput, parse_authorization};

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenRequest {
    auth: Value,
}

pub(super) async fn token(State(sim): State<Simulator>, body: axum::body::Bytes) -> Response {
    sim.shared.stats.lock().unwrap().token += 1;
    if let Some(r) = apply_faults(&sim, Route::Token, "/v3/auth/tokens", None).await {
        return r;
    }
    let req: TokenRequest = serde_json::from_slice(&body).unwrap_or_default();
    let user = &req.auth["identity"]["password"]["user"];
    let (name, password, domain) = (
        user["name"].as_str(),
        user["password"].as_str(),
        user["domain"]["name"].as_str(),
    );
    let Some(project_id) = req.auth["scope"]["project"]["id"].as_str().map(str::to_string) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": {"code": 400, "message": "scope.project.id is required", "title": "Bad Request"}}),
            ),
        )
            .into_response();
    };
    let config = sim.shared.config.lock().unwrap().clone();
    let known = config.users.iter().any(|u| {
        Some(u.username.as_str()) == name
            && Some(u.password.as_str()) == password
            && Some(u.domain_name.as_str()) == domain
    });
    if !known {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}}))).into_response();
    }
    let token = format!("MIIsim{}", uuid::Uuid::new_v4().simple());
    let issued = Utc::now();
    let expires_at = issued + chrono::Duration::from_std(config.token_lifetime).unwrap_or(chrono::Duration::hours(24));
    sim.shared.tokens.lock().unwrap().insert(
        token.clone(),
        IssuedToken {
            project_id: project_id.clone(),
            expires_at,
        },
    );
    let body = json!({"token": {
        "methods": ["password"],
        "expires_at": expires_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "issued_at": issued.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "user": {"name": name, "domain": {"name": domain}},
        "project": {"id": project_id, "name": "eu-de"},
    }});
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert("x-subject-token", token.parse().expect("ascii token"));
    resp
}

/// Checks a CSBS request's credentials like the API gateway does.
/// Why the gateway refused a request; turned into a response by the caller.
pub(super) struct AuthFailure(u16, &'static str, String);

impl AuthFailure {
    fn unauthorized(msg: &str) -> Self {
        AuthFailure(
            401,
            "APIGW.0301",
            format!("Incorrect IAM authentication information: {msg}"),
        )
    }
    pub(super) fn into_response(self) -> Response {
        error(self.0, self.1, &self.2)
    }
}

/// What the gateway checks of a request.
pub(super) struct Incoming<'a> {
    pub(super) method: &'a Method,
    pub(super) path: &'a str,
    pub(super) raw_query: &'a str,
    pub(super) headers: &'a HeaderMap,
    /// The project in the URL.
    pub(super) project_id: &'a str,
}

pub(super) fn authenticate(sim: &Simulator, req: &Incoming) -> Result<(), AuthFailure> {
    if let Some(tok) = req.headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return token_auth(sim, tok, req.project_id);
    }
    aksk_auth(sim, req)
}

/// `X-Auth-Token`: one the simulator issued, unexpired, scoped to the URL's project.
fn token_auth(sim: &Simulator, tok: &str, project_id: &str) -> Result<(), AuthFailure> {
    let tokens = sim.shared.tokens.lock().unwrap();
    match tokens.get(tok) {
        Some(t) if t.expires_at <= Utc::now() => Err(AuthFailure::unauthorized("The token must be updated")),
        Some(t) if t.project_id == project_id => Ok(()),
        Some(_) => Err(AuthFailure(
            403,
            "APIGW.0302",
            "The IAM token is not scoped to this project".into(),
        )),
        None => Err(AuthFailure::unauthorized("decrypt token fail")),
    }
}

/// `SDK-HMAC-SHA256`: a known AK, a fresh `X-Sdk-Date`, the URL's project, and the signature
/// of exactly this method, path, query and signed headers (compared in constant time).
fn aksk_auth(sim: &Simulator, req: &Incoming) -> Result<(), AuthFailure> {
    let Incoming {
        method,
        path,
        raw_query,
        headers,
        project_id,
    } = *req;
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(AuthFailure::unauthorized("no token or signature"));
    };
    let Some(parsed) = parse_authorization(auth) else {
        return Err(AuthFailure::unauthorized("verify aksk signature fail"));
    };
    let config = sim.shared.config.lock().unwrap().clone();
    let Some(sk) = config.access_keys.get(&parsed.access) else {
        return Err(AuthFailure::unauthorized(&format!(
            "Get secretKey failed,ak:{},err:ak not exist",
            parsed.access
        )));
    };
    let date = fresh_date(headers, config.signature_window.as_secs())?;
    if let Some(p) = headers.get("x-project-id").and_then(|v| v.to_str().ok())
        && p != project_id
    {
        return Err(AuthFailure(
            403,
            "APIGW.0302",
            "X-Project-Id does not match the project in the URL".into(),
        ));
    }
    let mut signed = Vec::new();
    for name in &parsed.signed_headers {
        let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) else {
            return Err(AuthFailure::unauthorized(
                "verify aksk signature fail: a signed header is missing",
            ));
        };
        signed.push((name.clone(), v.to_string()));
    }
    let expected = SignInput {
        method: method.as_str(),
        path,
        raw_query,
        headers: &signed,
        body: b"",
    }
    .signature(sk, &date);
    if bool::from(expected.as_bytes().ct_eq(parsed.signature.as_bytes())) {
        Ok(())
    } else {
        Err(AuthFailure::unauthorized("verify aksk signature fail"))
    }
}

/// `X-Sdk-Date`, when it is within `window_secs` of now.
fn fresh_date(headers: &HeaderMap, window_secs: u64) -> Result<String, AuthFailure> {
    let date = headers
        .get("x-sdk-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Ok(when) = NaiveDateTime::parse_from_str(&date, DATE_FORMAT) else {
        return Err(AuthFailure::unauthorized("verify aksk signature fail: bad X-Sdk-Date"));
    };
    let skew = (Utc::now().naive_utc() - when).num_seconds().unsigned_abs();
    if skew > window_secs {
        return Err(AuthFailure::unauthorized(
            "verify aksk signature fail: X-Sdk-Date out of range",
        ));
    }
    Ok(date)
}
