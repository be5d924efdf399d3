//! The accounts endpoints: register, login, logout, me, password change and account deletion.
//! Every state-changing request passes [`csrf`] first (a JSON content type, which a cross-site
//! form cannot send, and an allowed `Origin`). Errors are `{error: {code, message, field?}}`.
//! Failed logins answer the same, after the same work, for a missing user and a wrong password.

use std::{net::IpAddr, sync::Arc};

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Map, Value, json};

use super::{
    Account, Roles, SignedIn, Visitor, error::ApiError, token, username_key,
    validate_account_email, validate_display_name, validate_password, validate_username,
};
use crate::{
    AppState,
    address::{PeerAddr, client_ip},
    clock::now_ms,
    limits::MAX_ACCOUNT_BODY_BYTES,
    metrics::ResultLabel,
    protocol::ProtocolError,
    store::SessionEnd,
};

type ApiResult = Result<Response, ApiError>;

/// The accounts routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/register", post(register))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me).delete(delete_account))
        .route("/api/password", post(change_password))
        .route("/api/account/delete", post(delete_account))
        .layer(DefaultBodyLimit::max(MAX_ACCOUNT_BODY_BYTES))
}

/// The CSRF guard of every state-changing request: `Content-Type: application/json` (a form
/// cannot send it cross-site without a preflight) and an allowed `Origin`; without an `Origin`,
/// `Sec-Fetch-Site: cross-site` is refused too.
pub(crate) fn csrf(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::unsupported_media_type());
    }
    let cross_site = !headers.contains_key(header::ORIGIN)
        && headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site || !state.origins.allows(headers) {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// The body's JSON object (an empty body is an empty object).
fn object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(ApiError::bad_json()),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, ApiError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ProtocolError::field(field, format!("{field} must be a string")).into()),
        None => Err(ProtocolError::field(field, format!("{field} is required")).into()),
    }
}

fn optional<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ProtocolError::field(field, format!("{field} must be a string")).into()),
    }
}

/// Who the request's session cookie says it is (a guest when none, or the store cannot tell).
pub(crate) async fn visitor(state: &AppState, headers: &HeaderMap) -> Visitor {
    let Some(token) = token::from_headers(headers) else {
        return Visitor::Guest;
    };
    let token_hash = token::token_hash(&token);
    match state.store.session(&token_hash).await {
        Ok(Some((account, expires_ms))) => Visitor::Registered(
            SignedIn {
                user: account.user(&Roles::of(&state.config)),
                key: account.key,
                token_hash,
                expires_ms,
            }
            .into(),
        ),
        Ok(None) => Visitor::Guest,
        Err(e) => {
            tracing::warn!(error = %e, "session lookup failed; treating the client as a guest");
            Visitor::Guest
        }
    }
}

/// Start a session for `account` and answer `status` with `{user}` and the cookie.
async fn sign_in(state: &AppState, account: &Account, status: StatusCode) -> ApiResult {
    let token = token::new_token();
    let ttl = state.config.session_ttl();
    let expires_ms = now_ms() + ttl.as_millis() as u64;
    state
        .store
        .create_session(&token::token_hash(&token), &account.key, expires_ms)
        .await?;
    let cookie = token::set_cookie(&token, ttl.as_secs(), state.config.cookie_is_secure());
    let user = account.user(&Roles::of(&state.config));
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "user": user })),
    )
        .into_response())
}

fn ip(state: &AppState, headers: &HeaderMap, peer: Option<Extension<PeerAddr>>) -> IpAddr {
    client_ip(
        headers,
        peer.map(|Extension(p)| p),
        state.config.client_address_header.as_deref(),
    )
}

async fn register(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    csrf(&state, &headers)?;
    let obj = object(&body)?;
    let username = validate_username(string(&obj, "username")?)?;
    let password = string(&obj, "password")?;
    validate_password(password, "password")?;
    let max = state.limits.max_name_chars;
    let display_name = validate_display_name(optional(&obj, "display_name")?, &username, max)?;
    let email = validate_account_email(optional(&obj, "email")?)?;
    state
        .accounts
        .throttle
        .register(ip(&state, &headers, peer))
        .map_err(ApiError::rate_limited)?;
    let key = username_key(&username);
    if state.store.account(&key).await?.is_some() {
        return Err(ApiError::taken());
    }
    let account = Account {
        key,
        username,
        display_name,
        email,
        password_hash: state.accounts.hasher.hash(password).await?,
    };
    if !state.store.create_account(&account).await? {
        return Err(ApiError::taken());
    }
    tracing::info!(user = %account.key, "account registered");
    sign_in(&state, &account, StatusCode::CREATED).await
}

/// Check `password` for the account `key` under the brakes; the account when it matches.
async fn check_password(
    state: &AppState,
    key: &str,
    password: &str,
    ip: IpAddr,
) -> Result<Account, ApiError> {
    let count = |result| {
        let label = ResultLabel { result };
        state.metrics.logins.get_or_create(&label).inc();
    };
    let throttle = &state.accounts.throttle;
    let shared = state.store.shared_redis().map(|r| &**r);
    let wait = throttle.wait_shared(shared, key, ip).await;
    if !wait.is_zero() {
        count("rate_limited");
        return Err(ApiError::rate_limited(wait));
    }
    let account = state.store.account(key).await?;
    let hash = account.as_ref().map(|a| a.password_hash.as_str());
    let ok = state.accounts.hasher.verify(password, hash).await?;
    match account {
        Some(account) if ok => {
            count("ok");
            throttle.succeeded_shared(shared, key).await;
            Ok(account)
        }
        _ => {
            count("bad_credentials");
            let wait = throttle.failed_shared(shared, key, ip).await;
            tracing::info!(user = %key, %ip, wait_s = wait.as_secs(), "failed login");
            Err(ApiError::bad_credentials(wait))
        }
    }
}

async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    csrf(&state, &headers)?;
    let obj = object(&body)?;
    let username = string(&obj, "username")?;
    let password = string(&obj, "password")?;
    // Bounded work before the lookup: an impossible username or password is simply wrong.
    let ip = ip(&state, &headers, peer);
    let key = if validate_username(username).is_ok() && validate_password(password, "p").is_ok() {
        username_key(username)
    } else {
        String::new()
    };
    let account = check_password(&state, &key, password, ip).await?;
    sign_in(&state, &account, StatusCode::OK).await
}

/// End sessions in the store and on every replica; a failed announcement is logged, the
/// sessions are gone either way.
async fn end(state: &AppState, end: SessionEnd) -> Result<(), ApiError> {
    state.store.end_sessions(&end).await?;
    Ok(())
}

fn cleared(state: &AppState) -> Response {
    let cookie = token::clear_cookie(state.config.cookie_is_secure());
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response()
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    csrf(&state, &headers)?;
    if let Some(token) = token::from_headers(&headers) {
        let token_hash = token::token_hash(&token);
        end(&state, SessionEnd::One { token_hash }).await?;
    }
    Ok(cleared(&state))
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    match visitor(&state, &headers).await {
        Visitor::Registered(s) => Ok(Json(json!({ "user": s.user })).into_response()),
        Visitor::Guest => Err(ApiError::login_required()),
    }
}

/// The signed-in user of a state-changing request (CSRF-checked), or `login_required`.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Arc<SignedIn>, ApiError> {
    csrf(state, headers)?;
    match visitor(state, headers).await {
        Visitor::Registered(session) => Ok(session),
        Visitor::Guest => Err(ApiError::login_required()),
    }
}

async fn change_password(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let session = signed_in(&state, &headers).await?;
    let obj = object(&body)?;
    let current = string(&obj, "current_password")?;
    let new = string(&obj, "new_password")?;
    validate_password(new, "new_password")?;
    let ip = ip(&state, &headers, peer);
    check_password(&state, &session.key, current, ip).await?;
    let hash = state.accounts.hasher.hash(new).await?;
    if !state.store.set_password(&session.key, &hash).await? {
        return Err(ApiError::login_required());
    }
    let others = SessionEnd::AllOf {
        user: session.key.clone(),
        except: Some(session.token_hash.clone()),
    };
    end(&state, others).await?;
    tracing::info!(user = %session.key, "password changed; other sessions ended");
    // This session stays; its cookie is sent again with its remaining lifetime.
    let remaining = session.expires_ms.saturating_sub(now_ms()) / 1000;
    let token = token::from_headers(&headers).unwrap_or_default();
    let cookie = token::set_cookie(&token, remaining, state.config.cookie_is_secure());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn delete_account(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let session = signed_in(&state, &headers).await?;
    let obj = object(&body)?;
    let password = string(&obj, "password")?;
    let ip = ip(&state, &headers, peer);
    check_password(&state, &session.key, password, ip).await?;
    let all = SessionEnd::AllOf {
        user: session.key.clone(),
        except: None,
    };
    end(&state, all).await?;
    state.store.delete_account(&session.key).await?;
    tracing::info!(user = %session.key, "account deleted");
    Ok(cleared(&state))
}
