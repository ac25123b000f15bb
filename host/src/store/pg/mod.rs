//! PostgreSQL as the job queue and the shared cache, for teams whose builds
//! span machines: workers anywhere claim jobs with `FOR UPDATE SKIP LOCKED`,
//! wake on `LISTEN/NOTIFY`, and read inputs and write results through the
//! cache tables by hash, so they never need the course's files.
//!
//! One [`PgConn`] per thread, like the SQLite side. A connection lost to a
//! restarting server is re-established and the statement retried for a
//! while. A statement whose reply was lost may have committed, so what runs
//! again must not do twice what it did once (see the list in
//! [`queue`]'s module doc): every statement here is idempotent, fenced by
//! the job's worker, or (a claim) finds what it did the first time.
//!
//! Every statement is prepared once per connection and kept: the server
//! parses and plans it once, and each later use is one round trip that only
//! binds and runs it. A new connection starts with none prepared.

pub mod cache;
pub mod queue;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use crate::store::error::{BackendError, CacheError, QueueError};

impl From<PgError> for QueueError {
    fn from(e: PgError) -> Self {
        QueueError::Database(BackendError::whole(e))
    }
}

impl From<PgError> for CacheError {
    fn from(e: PgError) -> Self {
        CacheError::Database(BackendError::whole(e))
    }
}

/// The database clock in seconds since the epoch. Leases and heartbeats are
/// compared on the server's clock, never on the workers': machines disagree.
pub(crate) const NOW: &str = "extract(epoch from clock_timestamp())::float8";

/// How long a lost connection is tried again before the operation fails.
const RECONNECT_WINDOW: Duration = Duration::from_secs(60);
/// The first pause before connecting again; it doubles up to 2 s.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema changes, applied in order, each once. Never edit one that was
/// released: add the next.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE clx_sessions(
         id BIGSERIAL PRIMARY KEY, spec TEXT NOT NULL, host TEXT NOT NULL, pid BIGINT NOT NULL,
         status TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION,
         heartbeat DOUBLE PRECISION NOT NULL);
     CREATE TABLE clx_jobs(
         id BIGSERIAL PRIMARY KEY, session BIGINT NOT NULL, job_type TEXT NOT NULL, source TEXT NOT NULL,
         priority BIGINT NOT NULL DEFAULT 0,
         status TEXT NOT NULL CHECK (status IN ('pending','running','done','failed','cancelled')),
         attempts BIGINT NOT NULL DEFAULT 0, max_attempts BIGINT NOT NULL,
         payload TEXT NOT NULL, cache_key TEXT NOT NULL,
         requirement TEXT NOT NULL, refused_by BIGINT[] NOT NULL DEFAULT '{}',
         worker BIGINT, lease_until DOUBLE PRECISION,
         created_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION,
         error_message TEXT, error_location TEXT, error_category TEXT, result TEXT);
     CREATE INDEX clx_jobs_open ON clx_jobs(priority DESC, id) WHERE status IN ('pending','running');
     CREATE INDEX clx_jobs_session ON clx_jobs(session, status);
     CREATE TABLE clx_workers(
         id BIGSERIAL PRIMARY KEY, session BIGINT, host TEXT NOT NULL, job_types TEXT[] NOT NULL,
         requirements TEXT[] NOT NULL DEFAULT '{}', capabilities TEXT NOT NULL DEFAULT '',
         pid BIGINT NOT NULL, status TEXT NOT NULL, heartbeat DOUBLE PRECISION NOT NULL,
         current_job BIGINT, jobs_done BIGINT NOT NULL DEFAULT 0, jobs_failed BIGINT NOT NULL DEFAULT 0,
         started_at DOUBLE PRECISION NOT NULL, stopped_at DOUBLE PRECISION);
     CREATE TABLE clx_cache_entries(
         key TEXT PRIMARY KEY, value TEXT NOT NULL, bytes BIGINT NOT NULL,
         created_at DOUBLE PRECISION NOT NULL, used_at DOUBLE PRECISION NOT NULL);
     CREATE TABLE clx_cache_blobs(
         hash TEXT PRIMARY KEY, bytes BYTEA NOT NULL, size BIGINT NOT NULL, used_at DOUBLE PRECISION NOT NULL);
     CREATE TABLE clx_cache_memo(key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);",
    ),
    // The last progress a job's plugin reported, for `clx jobs list`.
    (2, "ALTER TABLE clx_jobs ADD COLUMN progress TEXT;"),
    // A claim's walk to the next pending job, for a build's own workers and
    // for remote ones. Only pending rows are in these indexes, so a claim
    // (pending to running) adds nothing to them: the leaf pages claims walk
    // stay unchanged between submissions, and the entries of jobs already
    // claimed are marked dead by the first walk past them instead of being
    // walked again by every claim.
    (
        3,
        "CREATE INDEX clx_jobs_pending_in_session ON clx_jobs(session, priority DESC, id) WHERE status = 'pending';
         CREATE INDEX clx_jobs_pending ON clx_jobs(priority DESC, id) WHERE status = 'pending';",
    ),
    // The claim that took a running job and the submission that inserted a
    // job, each numbered by the process that made it: run again after its
    // reply was lost, either finds what it did the first time.
    (4, "ALTER TABLE clx_jobs ADD COLUMN claim_token BIGINT, ADD COLUMN submit_token BIGINT;"),
    // What a worker holds and has finished is read from the jobs (a job
    // counts for the worker that ran it last): a claim or an outcome
    // writes the job's row alone, not its worker's too.
    (5, "ALTER TABLE clx_workers DROP COLUMN current_job, DROP COLUMN jobs_done, DROP COLUMN jobs_failed;"),
];

/// The schema version this clx writes and understands.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Any constant shared by every clx: the advisory lock that serialises
/// migrations between clx processes starting at once.
const MIGRATION_LOCK: i64 = 0x0063_6c78_5f6d_6967;

/// Why the PostgreSQL store failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL (shown without its password) cannot be used, and why.
    #[error("{0} is not a PostgreSQL URL: {1}; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")]
    Url(String, String),
    /// The URL (shown without its password) asks for what clx does not do:
    /// which setting, and what to write instead.
    #[error("{0}: {1}")]
    Unsupported(String, String),
    /// The server cannot be reached.
    #[error(
        "cannot reach the PostgreSQL database {target}: {message}; check the URL (--queue, [queue] url in clx.toml, \
         CLX_QUEUE_URL) and that the server is running"
    )]
    Connect {
        /// `user@host:port/db`.
        target: String,
        /// Why, in the innermost cause's words.
        message: String,
    },
    /// A statement failed.
    #[error("PostgreSQL database {target}: {}", describe(source))]
    Sql {
        /// `user@host:port/db`.
        target: String,
        /// What the server or the client said.
        source: postgres::Error,
    },
    /// A newer clx migrated the database.
    #[error(
        "the PostgreSQL database {target} has clx schema version {found}, newer than this clx understands \
         ({ours}); upgrade clx on this machine (every machine sharing a database must run a clx that knows its schema)"
    )]
    SchemaTooNew {
        /// `user@host:port/db`.
        target: String,
        /// The database's schema version.
        found: i32,
        /// The newest this clx knows.
        ours: i32,
    },
}

/// A `postgres://` URL, parsed once; shown without its password.
#[derive(Clone)]
pub struct PgUrl {
    url: String,
    config: postgres::Config,
    /// Set when whoever waits for an unreachable server no longer wants to.
    give_up: Option<Arc<AtomicBool>>,
}

impl PgUrl {
    /// Parse a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<PgUrl, PgError> {
        let checked = match query_value(url, "sslmode") {
            None | Some("disable" | "prefer" | "require") => std::borrow::Cow::Borrowed(url),
            // What clx does for `require`: the certificate and the host name
            // are always checked.
            Some("verify-full") => std::borrow::Cow::Owned(url.replace("sslmode=verify-full", "sslmode=require")),
            Some(other) => return Err(PgError::Unsupported(redact(url), unsupported_sslmode(other))),
        };
        let config: postgres::Config =
            checked.parse().map_err(|e: postgres::Error| PgError::Url(redact(url), e.to_string()))?;
        let mut config = config;
        config.connect_timeout(CONNECT_TIMEOUT);
        // Commits do not wait for the server's disk, as SQLite's WAL with
        // synchronous=NORMAL does not: a server crash may forget the last
        // moments, which only runs those jobs again (their results are
        // content-addressed), and a commit costs no fsync.
        //
        // No bitmap scans: a claim walks the pending jobs' index in order
        // and stops at the first it can take. An index scan marks the
        // entries of jobs claimed meanwhile as dead as it passes them, so
        // the next claim skips them; a bitmap scan (which the planner picks
        // when its statistics predate the submission and promise a few
        // pending jobs) visits every claimed job again, and each claim
        // costs more than the last: 5,000 jobs drained at 1,500/s by 2 or
        // 4 workers instead of 8,000/s. clx's other statements are keyed
        // lookups and small scans that an index or sequential scan serves.
        const OPTIONS: &str = "-c synchronous_commit=off -c enable_bitmapscan=off";
        let options = match config.get_options() {
            Some(given) => format!("{given} {OPTIONS}"),
            None => OPTIONS.to_owned(),
        };
        config.options(&options);
        if config.get_application_name().is_none() {
            config.application_name("clx");
        }
        Ok(PgUrl { url: url.to_owned(), config, give_up: None })
    }

    /// The same URL, whose connections stop waiting for an unreachable
    /// server once `flag` is set (a worker asked to stop during an outage).
    pub fn giving_up_when(self, flag: Arc<AtomicBool>) -> PgUrl {
        PgUrl { give_up: Some(flag), ..self }
    }

    fn gave_up(&self) -> bool {
        self.give_up.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Whether `text` names a PostgreSQL database rather than a file.
    pub fn is_postgres(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// The URL as written, password included: only for handing to a worker
    /// process, never for messages.
    pub fn as_secret_str(&self) -> &str {
        &self.url
    }

    /// `user@host:port/dbname`, for messages and `clx status`.
    pub fn target(&self) -> String {
        use postgres::config::Host;
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.config.get_user().unwrap_or("");
        let db = self.config.get_dbname().unwrap_or(user);
        format!("{user}@{host}:{port}/{db}")
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgUrl({})", self.target())
    }
}

impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.target())
    }
}

/// The URL with any password replaced, for an error about the URL itself:
/// the one in the user info (`user:PASSWORD@`) and a `password=` in the
/// query. When unsure where the user info ends, more is hidden, never less.
pub(crate) fn redact(url: &str) -> String {
    let masked = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    let Some((base, query)) = masked.split_once('?') else { return masked };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

/// The value of `key` in the URL's query, as written.
fn query_value<'u>(url: &'u str, key: &str) -> Option<&'u str> {
    let (_, query) = url.split_once('?')?;
    // The last one counts, as for the driver.
    query.rsplit('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Why an `sslmode` is refused, with the ones clx speaks.
fn unsupported_sslmode(mode: &str) -> String {
    let why = match mode {
        "verify-ca" => "clx checks the server's host name as well as its certificate whenever it speaks TLS",
        "allow" => "clx never falls back from plain text to TLS",
        _ => "it is not a PostgreSQL sslmode",
    };
    format!(
        "sslmode={mode} is not supported ({why}); use sslmode=verify-full (or require, which clx treats the \
         same: the certificate and the host name are checked), prefer or disable"
    )
}

/// One connection that comes back by itself after the server restarted.
pub struct PgConn {
    url: PgUrl,
    client: Mutex<Option<PgClient>>,
    /// Channels to listen on again after a reconnect.
    channels: Mutex<Vec<String>>,
}

impl PgConn {
    /// Connect and bring the schema up to date. Fails at once, without
    /// retrying, when the server cannot be reached: a build must not start
    /// against a database that is not there.
    pub fn open(url: &PgUrl) -> Result<PgConn, PgError> {
        let client = PgClient::new(connect(url)?);
        let conn = PgConn { url: url.clone(), client: Mutex::new(Some(client)), channels: Mutex::new(Vec::new()) };
        // Once the server answered, a connection lost while the schema is
        // checked (the server restarting) is tried again like any other.
        let found = conn.with(migrate)?;
        if found > SCHEMA_VERSION {
            return Err(PgError::SchemaTooNew { target: url.target(), found, ours: SCHEMA_VERSION });
        }
        Ok(conn)
    }

    /// The URL this connection goes to.
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, Option<PgClient>> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `op` on the connection; when the connection itself failed (the
    /// server restarted, the network dropped), connect again and run it
    /// again, for up to a minute.
    pub fn with<T>(&self, mut op: impl FnMut(&mut PgClient) -> Result<T, postgres::Error>) -> Result<T, PgError> {
        let started = Instant::now();
        let mut delay = FIRST_RETRY;
        let mut guard = self.lock();
        loop {
            let failure = match guard.as_mut() {
                Some(client) => match op(client) {
                    Ok(value) => return Ok(value),
                    Err(e) => match retry_after(&e, &client.client) {
                        Some(Retry::Reconnect) => {
                            *guard = None;
                            describe(&e)
                        }
                        Some(Retry::Again) => describe(&e),
                        Some(Retry::Prepare) => {
                            client.statements.clear();
                            describe(&e)
                        }
                        None => return Err(PgError::Sql { target: self.url.target(), source: e }),
                    },
                },
                None => match connect(&self.url).and_then(|mut c| self.listen_again(&mut c).map(|()| c)) {
                    Ok(client) => {
                        tracing::info!("reconnected to {}", self.url);
                        *guard = Some(PgClient::new(client));
                        continue;
                    }
                    Err(e) => e.to_string(),
                },
            };
            if started.elapsed() > RECONNECT_WINDOW || self.url.gave_up() {
                return Err(PgError::Connect { target: self.url.target(), message: failure });
            }
            // Said once per outage; the attempts that follow are details.
            if delay == FIRST_RETRY {
                tracing::warn!("lost the connection to {}: {failure}; trying again", self.url);
            } else {
                tracing::debug!("still no connection to {}: {failure}; trying again", self.url);
            }
            let resume = Instant::now() + delay;
            while Instant::now() < resume && !self.url.gave_up() {
                std::thread::sleep(Duration::from_millis(50).min(resume - Instant::now()));
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// [`PgConn::with`] for a statement that must not do twice what it did
    /// once: every try after the first runs `done_before` first, which
    /// finds what an earlier try did if it committed (only its reply was
    /// lost), and `op` runs only when that found nothing.
    pub fn with_once<T>(
        &self,
        mut done_before: impl FnMut(&mut PgClient) -> Result<Option<T>, postgres::Error>,
        mut op: impl FnMut(&mut PgClient) -> Result<T, postgres::Error>,
    ) -> Result<T, PgError> {
        let mut tried = false;
        self.with(|c| {
            if std::mem::replace(&mut tried, true) {
                if let Some(done) = done_before(c)? {
                    return Ok(done);
                }
            }
            op(c)
        })
    }

    fn listen_again(&self, client: &mut Client) -> Result<(), PgError> {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for channel in channels {
            client
                .batch_execute(&format!("LISTEN {channel}"))
                .map_err(|source| PgError::Sql { target: self.url.target(), source })?;
        }
        Ok(())
    }

    /// Subscribe this connection to `channel` (a plain identifier).
    pub fn listen(&self, channel: &str) -> Result<(), PgError> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner).push(channel.to_owned());
        self.with(|c| c.client.batch_execute(&format!("LISTEN {channel}")))
    }

    /// Wait up to `timeout` for a notification on a channel this connection
    /// listens on; returns the payloads that arrived (empty on time-out).
    pub fn wait_notified(&self, timeout: Duration) -> Result<Vec<String>, PgError> {
        self.with(|c| {
            let c = &mut c.client;
            let mut payloads = Vec::new();
            let first = c.notifications().timeout_iter(timeout).next()?;
            if first.is_none() && c.is_closed() {
                // A closed connection ends the wait at once, without an
                // error; a statement on it fails, so the caller reconnects
                // and listens again instead of spinning.
                c.batch_execute("")?;
            }
            if let Some(first) = first {
                payloads.push(first.payload().to_owned());
                // Drain what else is already here without waiting again.
                let mut notifications = c.notifications();
                let mut rest = notifications.iter();
                while let Some(n) = rest.next()? {
                    payloads.push(n.payload().to_owned());
                }
            }
            Ok(payloads)
        })
    }
}

/// A connection and the statements prepared on it, by their text. The
/// texts are the store's own, so the map stays as small as the store.
pub struct PgClient {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgClient {
    fn new(client: Client) -> PgClient {
        PgClient { client, statements: HashMap::new() }
    }

    /// `sql`, prepared on this connection the first time it is asked for.
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Run the prepared `sql`; the rows it returns.
    pub fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    /// Run the prepared `sql`; the one row it returns.
    pub fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    /// Run the prepared `sql`; how many rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }

    /// Several statements in one transaction, for what runs rarely
    /// (migrations, closing a session, pruning): not prepared.
    pub fn transaction(&mut self) -> Result<postgres::Transaction<'_>, postgres::Error> {
        self.client.transaction()
    }

    /// Statements without parameters, as one string; not prepared.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }
}

/// TLS only when the URL asks for it (`sslmode=require` or `verify-full`):
/// then the server's certificate and host name are checked against the
/// system's CA certificates (or `SSL_CERT_FILE`), never accepted blindly. `prefer`, the default, and
/// `disable` connect in plain text, as a server without TLS expects.
fn connect(url: &PgUrl) -> Result<Client, PgError> {
    let failed = |message: String| PgError::Connect { target: url.target(), message };
    match url.config.get_ssl_mode() {
        postgres::config::SslMode::Require => {
            let tls = tls_config().map_err(failed)?;
            url.config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).map_err(|e| failed(root_cause(&e)))
        }
        _ => url.config.connect(NoTls).map_err(|e| failed(root_cause(&e))),
    }
}

fn tls_config() -> Result<rustls::ClientConfig, String> {
    static CONFIG: std::sync::OnceLock<Result<rustls::ClientConfig, String>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("sslmode=require, but no CA certificate was found to check the server's with \
                            (install ca-certificates, or set SSL_CERT_FILE)"
                    .to_owned());
            }
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                .map_err(|e| format!("cannot set up TLS: {e}"))
        })
        .clone()
}

/// The server's own words and SQLSTATE when it sent an error, else the
/// innermost cause.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => root_cause(e),
    }
}

/// The innermost message: "connection refused", not "error connecting to server".
fn root_cause(e: &postgres::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = s.to_string();
        source = s.source();
    }
    message
}

enum Retry {
    /// The connection is gone: a new one may succeed.
    Reconnect,
    /// The server gave up on this attempt (a deadlock, a serialisation
    /// conflict): the same statement on the same connection may succeed.
    Again,
    /// A kept statement no longer fits the schema (a newer clx migrated
    /// it) or the server forgot it: prepare them again.
    Prepare,
}

/// Whether a failed statement is worth running again, and how.
fn retry_after(e: &postgres::Error, client: &Client) -> Option<Retry> {
    if client.is_closed() || e.is_closed() {
        return Some(Retry::Reconnect);
    }
    match e.code().map(|c| c.code()) {
        Some(code) if code.starts_with("08") || code.starts_with("57P") => Some(Retry::Reconnect),
        Some(code) if code.starts_with("40") => Some(Retry::Again),
        Some("26000") => Some(Retry::Prepare),
        Some("0A000") if e.as_db_error().is_some_and(|db| db.message().starts_with("cached plan")) => {
            Some(Retry::Prepare)
        }
        Some(_) => None,
        // No SQLSTATE: an I/O error on the socket shows as such; anything
        // else (a value that cannot be encoded) is not the connection's fault.
        None => e.to_string().starts_with("error communicating with the server").then_some(Retry::Reconnect),
    }
}

/// Apply every migration the database lacks, under a lock so two clx
/// processes starting together do not both apply one. Returns the version
/// found; one newer than this clx's is left alone for the caller to refuse.
fn migrate(client: &mut PgClient) -> Result<i32, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let fresh: bool = tx.query_one("SELECT to_regclass('clx_schema') IS NULL", &[])?.get(0);
    if fresh {
        tx.batch_execute(
            "CREATE TABLE clx_schema(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )?;
    }
    let found: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM clx_schema", &[])?.get(0);
    if found > SCHEMA_VERSION {
        // Refused by the caller; nothing here is changed.
        return Ok(found);
    }
    for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(statements)?;
        tx.execute("INSERT INTO clx_schema(version) VALUES ($1)", &[version])?;
    }
    tx.commit()?;
    Ok(found)
}

/// The name of this machine, recorded with sessions and workers so
/// `clx workers` can tell machines apart.
pub(crate) fn hostname() -> String {
    clx_sys::process::hostname().unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_in_a_message_never_shows_its_password() {
        let url = PgUrl::parse("postgres://clx:s3cret@db.example:6543/course").unwrap();
        assert_eq!(url.target(), "clx@db.example:6543/course");
        assert!(!format!("{url} {url:?}").contains("s3cret"));
        assert_eq!(redact("postgres://clx:s3cret@db/x"), "postgres://clx:***@db/x");
    }

    #[test]
    fn every_connection_commits_without_fsync_and_plans_claims_as_index_walks_keeping_given_options() {
        let url = PgUrl::parse("postgres://clx@db/x").unwrap();
        assert_eq!(url.config.get_options(), Some("-c synchronous_commit=off -c enable_bitmapscan=off"));
        let url = PgUrl::parse("postgres://clx@db/x?options=-c%20work_mem%3D8MB").unwrap();
        assert_eq!(
            url.config.get_options(),
            Some("-c work_mem=8MB -c synchronous_commit=off -c enable_bitmapscan=off")
        );
    }

    #[test]
    fn a_password_in_the_query_never_shows_either() {
        let url = "postgres://clx@db/x?sslmode=prefer&password=s3cret&application_name=a";
        assert_eq!(redact(url), "postgres://clx@db/x?sslmode=prefer&password=***&application_name=a");
        let bad = PgUrl::parse("postgres://clx@db/x?password=s3cret&sslmode=verify-ca").err().unwrap().to_string();
        assert!(!bad.contains("s3cret") && bad.contains("password=***"), "{bad}");
        let bad = PgUrl::parse("postgres://clx@db/x?password=s3cret&nonsense=1").err().unwrap().to_string();
        assert!(!bad.contains("s3cret"), "{bad}");
        assert!(!format!("{:?}", PgUrl::parse(url).unwrap()).contains("s3cret"));
    }

    #[test]
    fn sslmode_verify_full_is_spoken_and_the_other_modes_are_named_when_refused() {
        let url = PgUrl::parse("postgres://clx@db/x?sslmode=verify-full").unwrap();
        assert_eq!(url.config.get_ssl_mode(), postgres::config::SslMode::Require);
        assert!(url.as_secret_str().contains("verify-full"), "handed to workers as written");
        for mode in ["verify-ca", "allow", "sometimes"] {
            let message = PgUrl::parse(&format!("postgres://clx@db/x?sslmode={mode}")).err().unwrap().to_string();
            assert!(message.contains(&format!("sslmode={mode} is not supported")), "{message}");
            assert!(message.contains("verify-full") && message.contains("disable"), "{message}");
        }
    }

    #[test]
    fn only_postgres_schemes_name_a_database() {
        assert!(PgUrl::is_postgres("postgres://x@y/z"));
        assert!(PgUrl::is_postgres("postgresql://x@y/z"));
        assert!(!PgUrl::is_postgres("/var/lib/clx/queue.db"));
    }

    #[test]
    fn an_unreachable_server_is_reported_at_once_with_what_to_check() {
        // Port 1 on loopback: nothing listens there.
        let url = PgUrl::parse("postgres://clx@127.0.0.1:1/clx").unwrap();
        let started = Instant::now();
        let error = PgConn::open(&url).err().expect("no server");
        assert!(started.elapsed() < RECONNECT_WINDOW, "the first connect is not retried");
        let message = error.to_string();
        assert!(message.contains("clx@127.0.0.1:1/clx") && message.contains("CLX_QUEUE_URL"), "{message}");
    }
}
