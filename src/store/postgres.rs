//! Opening the PostgreSQL store: connection checks with errors an operator can act on.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// How long the first connection may take before we say the server does not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const URL_HINT: &str = "set --database-url / LHEO_FEED_DATABASE_URL";

pub(super) async fn open(url: &str) -> Result<PgPool> {
    let shown = redact_url(url);
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        anyhow!(
            "invalid PostgreSQL URL {shown}: {e}; expected \
             postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE ({URL_HINT})"
        )
    })?;

    // One direct connection first: on a refused connection the pool retries until its
    // acquire timeout and then reports only "pool timed out", hiding the cause.
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Err(_) => {
            return Err(anyhow!(
                "cannot connect to PostgreSQL at {shown}: no answer within {} s; is the server \
                 running and reachable from here? {URL_HINT}",
                CONNECT_TIMEOUT.as_secs()
            ))
        }
        Ok(Err(e)) => return Err(explain_connect_error(e, &shown)),
        Ok(Ok(conn)) => {
            // Only a probe; a failure to say goodbye politely changes nothing.
            let _ = conn.close().await;
        }
    }

    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|e| explain_connect_error(e, &shown))?;
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .with_context(|| {
            format!(
                "cannot bring the schema of PostgreSQL database {shown} up to date; if it was \
                 written by a newer lheo-feed, use that version (or a new database)"
            )
        })?;
    Ok(pool)
}

/// Turns a connection failure into advice. `shown` is the URL without its password.
fn explain_connect_error(e: sqlx::Error, shown: &str) -> anyhow::Error {
    let advice = match &e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => format!(
            "cannot connect to PostgreSQL at {shown}: is the server running and accepting \
             connections there? {URL_HINT}"
        ),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01") | Some("28000") => format!(
                "PostgreSQL at {shown} refused the login: check the user and password \
                 ({URL_HINT}, or PGPASSWORD) and the server's pg_hba.conf"
            ),
            // invalid_catalog_name
            Some("3D000") => format!(
                "the database named in {shown} does not exist on that server: create it \
                 (createdb NAME) or {URL_HINT}"
            ),
            _ => format!("PostgreSQL at {shown} refused the connection; {URL_HINT}"),
        },
        _ => format!("cannot connect to PostgreSQL at {shown}; {URL_HINT}"),
    };
    anyhow::Error::new(e).context(advice)
}

/// The URL with its password replaced by `***`, fit for messages and logs: the password
/// in the user-info part and any `password=` query parameter.
///
/// Errs on the side of hiding: everything before the last `@` is taken as user info, so
/// a password holding an unescaped `/` or `@` is hidden too.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at..]),
        None => (None, rest),
    };
    let userinfo = match userinfo {
        Some(ui) => match ui.split_once(':') {
            Some((user, _password)) => format!("{user}:***"),
            None => ui.to_owned(),
        },
        None => String::new(),
    };
    let after = match after.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                        format!("{k}=***")
                    }
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => after.to_owned(),
    };
    format!("{scheme}://{userinfo}{after}")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://feed:s3cret@db.example:5432/lheo"),
            "postgres://feed:***@db.example:5432/lheo"
        );
        assert_eq!(
            redact_url("postgres://feed@db/lheo"),
            "postgres://feed@db/lheo"
        );
        assert_eq!(redact_url("postgres://db/lheo"), "postgres://db/lheo");
        assert_eq!(
            redact_url("postgresql://db/lheo?user=feed&password=s3cret&sslmode=require"),
            "postgresql://db/lheo?user=feed&password=***&sslmode=require"
        );
        // Unescaped '@' or '/' in a password still does not leak it.
        for url in [
            "postgres://feed:p@ss/w0rd@db/lheo",
            "postgres://feed:a/b@db/lheo",
        ] {
            let shown = redact_url(url);
            assert!(
                !shown.contains("ss/w0rd") && !shown.contains("a/b"),
                "{shown}"
            );
        }
    }
}
