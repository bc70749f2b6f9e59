//! The database: one connection type over PostgreSQL or SQLite, pooled by r2d2,
//! with embedded migrations per backend and write transactions that never deadlock SQLite.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Set on every SQLite connection of the shop (see [`Manager::connect`]).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";

/// Arbitrary constant: serializes migrations when several instances start at once on PostgreSQL.
const MIGRATION_LOCK_ID: i64 = 0x5354_4f52_4546;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// The connection pool, and (for SQLite) the lock that lets this process's write transactions
/// take turns (see [`write_tx`]).
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<Manager>,
    writer: Arc<Mutex<()>>,
    /// One permit per connection: work waits for a connection here, as a cheap future, rather
    /// than on a blocking thread parked in r2d2 (a thread and two context switches per waiter).
    permits: Arc<tokio::sync::Semaphore>,
    /// SQLite's writer thread (see [`write`]); `None` on PostgreSQL, and for a pool made from
    /// parts (its writes go through [`run`]).
    write_thread: Option<Arc<WriteThread>>,
}

impl Pool {
    pub fn new(inner: r2d2::Pool<Manager>) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(inner.max_size() as usize)),
            inner,
            writer: Arc::default(),
            write_thread: None,
        }
    }
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

thread_local! {
    /// The writer lock of the pool whose connection this thread is using in [`run`].
    static WRITER: std::cell::RefCell<Option<Arc<Mutex<()>>>> = const { std::cell::RefCell::new(None) };
}

/// Sets [`WRITER`] for the duration of one [`run`] closure.
struct WriterScope;

impl WriterScope {
    fn enter(lock: &Arc<Mutex<()>>) -> Self {
        WRITER.with(|w| *w.borrow_mut() = Some(lock.clone()));
        Self
    }
}

impl Drop for WriterScope {
    fn drop(&mut self) {
        WRITER.with(|w| *w.borrow_mut() = None);
    }
}
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Opens connections for the backend named by the URL scheme. Diesel's own manager tries each
/// backend in turn and hides the real error; this one reports it.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    pub fn connect(url: &DatabaseUrl) -> Result<AnyConnection, ConnectionError> {
        match url {
            DatabaseUrl::Postgres(u) => PgConnection::establish(u).map(AnyConnection::Postgresql),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                // WAL lets readers run beside a writer; the busy timeout makes writers queue
                // instead of failing with "database is locked". `synchronous = FULL` syncs the
                // WAL at every commit: a webhook is answered 200 only after its commit, and with
                // NORMAL a power cut could still lose that commit (Stripe would never resend).
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        Self::connect(&self.url).map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        match conn {
            // A file database does not go away under an open connection; a query per checkout
            // (parsed anew each time) would only cost.
            AnyConnection::Sqlite(_) => Ok(()),
            // A server can restart: a dead connection is replaced instead of failing a request.
            AnyConnection::Postgresql(_) => conn.ping().map_err(r2d2::Error::QueryError),
        }
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Builds the pool, failing fast with the real connection error when the database is unreachable.
pub fn pool(url: &DatabaseUrl, max_size: u32) -> Result<Pool, String> {
    // One eager connection reports a bad URL or a down server with its real message.
    // libpq's messages span lines; start-up errors must stay on one.
    Manager::connect(url).map_err(|e| {
        e.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })?;
    // No idle minimum: r2d2 would open a replacement in the background whenever a connection is
    // checked out, and a process that exits while libpq is connecting (a command that finishes
    // or refuses at once) can crash in OpenSSL's exit-time cleanup. Connections are still made
    // on demand and reused.
    r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(10))
        .build(Manager::new(url.clone()))
        .map(|inner| Pool {
            write_thread: match url {
                DatabaseUrl::Sqlite(_) => WriteThread::start(url).ok().map(Arc::new),
                DatabaseUrl::Postgres(_) => None,
            },
            ..Pool::new(inner)
        })
        .map_err(|e| e.to_string())
}

/// What a failed migration says (diesel's migration harness boxes its errors).
pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Applies pending migrations of the connection's backend.
pub fn migrate(conn: &mut AnyConnection) -> Result<(), MigrationError> {
    match conn {
        AnyConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"));
            result
        }
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    }
}

/// Runs `f` in a transaction meant to write. On SQLite it begins `IMMEDIATE`: a deferred
/// transaction that later upgrades to a write fails with SQLITE_BUSY whatever the busy timeout.
/// Nested `conn.transaction` calls inside `f` become savepoints as usual.
///
/// SQLite runs one write transaction at a time. Inside [`run`], this process's writers first
/// queue on their pool's lock: a writer that found the database busy would otherwise sleep in
/// SQLite's busy handler (1, 2, 5… up to 100 ms at a time) however soon the other one finished,
/// which under a burst of cart updates made the slowest requests take half a second.
pub fn write_tx<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let writer = match conn {
        AnyConnection::Sqlite(_) => WRITER.with(|w| w.borrow().clone()),
        AnyConnection::Postgresql(_) => None,
    };
    let _turn = writer
        .as_ref()
        .map(|lock| lock.lock().unwrap_or_else(|e| e.into_inner()));
    match conn {
        AnyConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = f(conn);
    let end = match (&result, &mut *conn) {
        (Ok(_), AnyConnection::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
        (Ok(_), AnyConnection::Postgresql(c)) => AnsiTransactionManager::commit_transaction(c),
        (Err(_), AnyConnection::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
        (Err(_), AnyConnection::Postgresql(c)) => AnsiTransactionManager::rollback_transaction(c),
    };
    match (result, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        // The caller's error explains more than a failed rollback does.
        (Err(e), _) => Err(e),
    }
}

/// Runs blocking database work on actix's blocking thread pool, never on the async executor.
pub async fn run<T, E>(
    pool: &Pool,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let permit = tokio::time::timeout(
        pool.connection_timeout(),
        pool.permits.clone().acquire_owned(),
    )
    .await;
    let Ok(Ok(permit)) = permit else {
        return Err(E::from(DbError::Busy));
    };
    let pool = pool.clone();
    actix_web::web::block(move || {
        let _permit = permit;
        let mut conn = pool.get().map_err(|e| E::from(DbError::Pool(e)))?;
        let _scope = WriterScope::enter(&pool.writer);
        f(&mut conn)
    })
    .await
    .map_err(|e| E::from(DbError::Blocking(e)))?
}

/// Work for the SQLite writer thread; false when it panicked (the connection may be left inside
/// a transaction, so the thread opens a new one).
type Job = Box<dyn FnOnce(&mut AnyConnection) -> bool + Send>;

/// One thread with its own connection that runs the busiest writes one after another. SQLite
/// runs one write transaction at a time anyway; handing writes to a thread that stays awake
/// while there is work costs one wake-up per write, where blocking-pool threads taking turns on
/// the writer lock cost several context switches each.
pub struct WriteThread {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl WriteThread {
    fn start(url: &DatabaseUrl) -> Result<Self, ConnectionError> {
        let mut conn = Manager::connect(url)?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let url = url.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // Ends when the last pool clone is dropped.
                while let Ok(job) = rx.recv() {
                    if !job(&mut conn) {
                        // Jobs wait in the channel meanwhile; a reconnect fails only if the
                        // file cannot be opened at all, which no request could fix either.
                        conn = loop {
                            match Manager::connect(&url) {
                                Ok(fresh) => break fresh,
                                Err(e) => {
                                    tracing::error!(error = %e, "the SQLite writer thread cannot reconnect; retrying in 1 s");
                                    std::thread::sleep(Duration::from_secs(1));
                                }
                            }
                        };
                    }
                }
            })
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
        Ok(Self {
            jobs: std::sync::Mutex::new(tx),
        })
    }
}

/// [`run`] for work that is one write transaction ([`write_tx`]) on the busiest paths (adding
/// to the cart, recording a webhook event). On SQLite it runs on the pool's writer thread (see
/// [`WriteThread`]); elsewhere exactly as [`run`].
pub async fn write<T, E>(
    pool: &Pool,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let Some(thread) = &pool.write_thread else {
        return run(pool, f).await;
    };
    let (done, result) = tokio::sync::oneshot::channel();
    let lock = pool.writer.clone();
    let job: Job = Box::new(move |conn| {
        let _scope = WriterScope::enter(&lock);
        // A panic must not take the thread (and every later write) with it.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn))) {
            Ok(outcome) => {
                let _ = done.send(outcome);
                true
            }
            Err(_) => false,
        }
    });
    let sent = thread
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job);
    if let Err(std::sync::mpsc::SendError(job)) = sent {
        // The thread is gone (it never should be): the job did not run, so run it the slow way.
        tracing::error!("the SQLite writer thread is gone; writing through the pool");
        run(pool, move |conn| {
            job(conn);
            Ok::<(), E>(())
        })
        .await?;
    }
    result.await.map_err(|_| E::from(DbError::WriterGone))?
}

/// A short read for the busiest pages (the cart): on SQLite with a connection free at once, it
/// runs right here on the calling worker; otherwise exactly like [`run`]. A SQLite read of a few
/// indexed rows is CPU work in this process (in WAL mode readers do not wait for the writer)
/// and costs less than the two thread switches of handing it to the blocking pool and back.
/// PostgreSQL work always leaves the worker (it waits on the network). Reads only: write
/// transactions take their turn through [`run`] (see [`write_tx`]).
pub async fn read<T, E>(
    pool: &Pool,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    if let Ok(permit) = pool.permits.clone().try_acquire_owned()
        && let Some(mut conn) = pool.inner.try_get()
    {
        if let AnyConnection::Sqlite(_) = &*conn {
            let _permit = permit;
            return f(&mut conn);
        }
        return actix_web::web::block(move || {
            let _permit = permit;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Blocking(e)))?;
    }
    run(pool, f).await
}

/// Runs `$body` with `$c` bound to the backend's own connection. Through [`AnyConnection`]
/// diesel keys its statement cache by the statement's SQL text, which it builds anew at every
/// execution; on the backend's connection the key is the query's type, and nothing is built.
/// For the statements of the busiest paths (the cart page, adding to the cart):
/// `on_backend!(conn, |c| query.load(c))`.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite($c) => $body,
            $crate::db::AnyConnection::Postgresql($c) => $body,
        }
    };
}

/// Whether `e` is a unique-constraint violation (a row with that key exists).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Runs `insert` in a savepoint: true when it inserted, false when a unique constraint says the
/// row exists already. The savepoint keeps the caller's transaction usable on PostgreSQL, which
/// aborts a whole transaction at its first error.
pub fn insert_once(
    conn: &mut AnyConnection,
    insert: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<usize>,
) -> diesel::QueryResult<bool> {
    match conn.transaction(insert) {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection")]
    Pool(#[from] r2d2::PoolError),
    #[error("no database connection became free in time")]
    Busy,
    #[error("the blocking thread pool is gone")]
    Blocking(#[from] actix_web::error::BlockingError),
    #[error("the database writer thread stopped (a write panicked, or the shop is stopping)")]
    WriterGone,
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Integer;
    use diesel::{QueryableByName, RunQueryDsl};

    use super::*;

    #[derive(QueryableByName)]
    struct Synchronous {
        #[diesel(sql_type = Integer)]
        synchronous: i32,
    }

    #[test]
    fn sqlite_commits_survive_a_power_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.db").display().to_string();
        let mut conn = Manager::connect(&DatabaseUrl::Sqlite(path)).unwrap();
        let AnyConnection::Sqlite(c) = &mut conn else {
            unreachable!("a SQLite URL opens SQLite")
        };
        let mode: Synchronous = diesel::sql_query("PRAGMA synchronous")
            .get_result(c)
            .unwrap();
        // 2 = FULL: the WAL is synced at each commit (1, NORMAL, syncs only at checkpoints).
        assert_eq!(mode.synchronous, 2);
    }

    #[derive(QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }

    /// The options `.cargo/config.toml` passes to the bundled SQLite (why: see there). A build
    /// that lost them (another SQLite linked, the file gone) fails here, not in production.
    #[test]
    fn the_bundled_sqlite_is_built_for_concurrent_prepared_reads() {
        let mut conn = Manager::connect(&DatabaseUrl::Sqlite(":memory:".into())).unwrap();
        let AnyConnection::Sqlite(c) = &mut conn else {
            unreachable!("a SQLite URL opens SQLite")
        };
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(c)
            .unwrap()
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        for wanted in ["DEFAULT_MEMSTATUS=0", "ENABLE_QPSG"] {
            assert!(options.iter().any(|o| o == wanted), "{wanted}: {options:?}");
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// Writes on the SQLite writer thread commit like any other, and one that panics mid-way
    /// through its transaction neither commits nor stops the writes after it.
    #[actix_web::test]
    async fn the_writer_thread_survives_a_panicking_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("shop.db").display().to_string());
        let pool = pool(&url, 2).unwrap();
        assert!(pool.write_thread.is_some());
        run(&pool, |conn| {
            conn.batch_execute("CREATE TABLE t (n BIGINT NOT NULL)")
                .map_err(DbError::from)
        })
        .await
        .unwrap();
        let insert = |conn: &mut AnyConnection| {
            diesel::sql_query("INSERT INTO t (n) VALUES (1)")
                .execute(conn)
                .map(|_| ())
        };
        write(&pool, move |conn| {
            write_tx(conn, insert).map_err(DbError::from)
        })
        .await
        .unwrap();
        let panicked = write(&pool, move |conn| {
            write_tx(conn, |conn| {
                insert(conn)?;
                panic!("a bug in a write");
                #[allow(unreachable_code)]
                Ok::<(), DbError>(())
            })
        })
        .await;
        assert!(matches!(panicked, Err(DbError::WriterGone)), "{panicked:?}");
        write(&pool, move |conn| {
            write_tx(conn, insert).map_err(DbError::from)
        })
        .await
        .unwrap();
        let rows: Count = run(&pool, |conn| {
            diesel::sql_query("SELECT COUNT(*) AS n FROM t")
                .get_result(conn)
                .map_err(DbError::from)
        })
        .await
        .unwrap();
        assert_eq!(rows.n, 2, "the panicked write's row was not committed");
    }
}
