//! The SQLite database: opening it with the right pragmas, versioned
//! migrations, and a handle that runs blocking SQLite work off the async threads.
//!
//! There is one writer connection behind a mutex (SQLite allows one writer at a
//! time anyway, and serialising writes here is what makes per-tenant `seq`
//! assignment trivially gap-free), a pool of [`READERS`] reader connections,
//! which WAL lets run beside the writer and each other, and one more reader
//! kept for signing in and socket CONNECT ([`Db::read_auth`]), so that a
//! flood of bulk reads never queues a login behind it. Waiting for a reader
//! happens on the async side (a semaphore), not on blocking threads.

pub mod migrations;

use crate::error::ApiError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Reader connections for requests (snapshots, pages, searches).
pub const READERS: usize = 4;

/// Where the database lives.
#[derive(Debug, Clone)]
pub enum DbLocation {
    /// A file; created with its WAL beside it.
    File(PathBuf),
    /// A private in-memory database, for tests that need no file (shared cache
    /// so the reader sees the writer's data).
    Memory,
}

/// Cloneable handle to the writer and reader connections.
#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    /// One permit per reader: a read waits here, not on a blocking thread.
    free_readers: Arc<Semaphore>,
    /// Signing in and socket CONNECT only.
    auth_reader: Arc<Mutex<Connection>>,
    /// File databases only: a connection that moves the WAL into the main
    /// file in the background, so commits never wait for that (and its fsync).
    checkpointer: Option<Arc<Mutex<Connection>>>,
}

impl Db {
    /// Opens (creating if needed) and migrates the database.
    pub fn open(location: &DbLocation) -> Result<Db, ApiError> {
        let (writer, readers, checkpointer) = match location {
            DbLocation::File(path) => {
                let writer = open_file(path, false)?;
                // Checkpoints happen in `checkpoint`, off the commit path.
                writer.pragma_update(None, "wal_autocheckpoint", 0)?;
                let readers = (0..=READERS)
                    .map(|_| open_file(path, true))
                    .collect::<Result<Vec<_>, _>>()?;
                (writer, readers, Some(open_file(path, true)?))
            }
            DbLocation::Memory => {
                let name = format!(
                    "file:clinic-{}?mode=memory&cache=shared",
                    uuid::Uuid::new_v4().simple()
                );
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_URI;
                let open = || -> Result<Connection, ApiError> {
                    let c = Connection::open_with_flags(&name, flags)?;
                    c.busy_timeout(Duration::from_secs(5))?;
                    c.pragma_update(None, "foreign_keys", "ON")?;
                    Ok(c)
                };
                let w = open()?;
                let readers = (0..=READERS)
                    .map(|_| open())
                    .collect::<Result<Vec<_>, _>>()?;
                (w, readers, None)
            }
        };
        let mut writer = writer;
        // A transaction that reads before it writes would otherwise ask for
        // the write lock only at its first write, and SQLite answers a read
        // transaction that finds the lock taken (by the WAL truncation, say)
        // with "database is locked" at once, without waiting: take it first.
        writer.set_transaction_behavior(TransactionBehavior::Immediate);
        migrations::migrate(&mut writer)?;
        let mut readers = readers;
        let auth_reader = readers
            .pop()
            .ok_or_else(|| ApiError::internal("no reader connection"))?;
        Ok(Db {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers.into_iter().map(Mutex::new).collect()),
            free_readers: Arc::new(Semaphore::new(READERS)),
            auth_reader: Arc::new(Mutex::new(auth_reader)),
            checkpointer: checkpointer.map(|c| Arc::new(Mutex::new(c))),
        })
    }

    /// Copies committed WAL frames into the main database file without
    /// blocking writers (`PASSIVE`). The server calls it about once a second;
    /// a no-op for in-memory databases.
    pub async fn checkpoint(&self) -> Result<(), ApiError> {
        let Some(conn) = self.checkpointer.clone() else {
            return Ok(());
        };
        run_blocking(conn, |c| {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Moves the whole WAL into the database and truncates it to nothing,
    /// if no reader is in the way (then it tries again next time): under a
    /// flood of reads a WAL can grow, and only this gives the space back.
    /// Returns the WAL's size before, in bytes.
    pub async fn truncate_wal(&self) -> Result<u64, ApiError> {
        let Some(conn) = self.checkpointer.clone() else {
            return Ok(0);
        };
        run_blocking(conn, |c| {
            let path = c.path().map(|p| format!("{p}-wal"));
            let before = path
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            // It holds new writers back while it waits for readers: wait
            // briefly, and if a reader is still in the way, try next time.
            c.busy_timeout(Duration::from_millis(50))?;
            let done = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            c.busy_timeout(Duration::from_secs(5))?;
            done?;
            Ok(before)
        })
        .await
    }

    /// Runs `f` with the writer connection on the blocking pool.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        run_blocking(self.writer.clone(), f).await
    }

    /// Runs `f` with a reader connection of the pool on the blocking pool,
    /// once one is free.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let permit = self
            .free_readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("database closed"))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            // With a permit, at least one reader is free.
            let mut conn = readers
                .iter()
                .find_map(|r| r.try_lock().ok())
                .ok_or_else(|| ApiError::internal("no free reader despite a permit"))?;
            let out = f(&mut conn);
            drop(conn);
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// Runs `f` with the reader kept for signing in and socket CONNECT: it
    /// never waits behind the pool's bulk reads.
    pub async fn read_auth<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        run_blocking(self.auth_reader.clone(), f).await
    }

    /// Runs `f` with the writer connection on the current thread, for start-up
    /// work (seeding) that happens before the server serves anything.
    pub fn write_now<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| ApiError::internal("writer lock poisoned"))?;
        f(&mut conn)
    }
}

async fn run_blocking<T, F>(conn: Arc<Mutex<Connection>>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let mut guard = conn
            .lock()
            .map_err(|_| ApiError::internal("database lock poisoned"))?;
        f(&mut guard)
    })
    .await
    .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
}

/// Makes the database file (and any `-wal`/`-shm` beside it) readable by the
/// server's user only: they hold patients' records. A new file is created so
/// (SQLite gives its journal files the database file's mode); an existing one
/// that others could read is tightened, with a warning.
fn keep_private(path: &Path) -> Result<(), ApiError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| ApiError::internal(format!("creating {}: {e}", path.display())))?;
        }
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            files.push(p.into());
        }
        for f in files.iter().filter(|f| f.exists()) {
            let mode = std::fs::metadata(f)
                .map_err(|e| ApiError::internal(format!("reading {}: {e}", f.display())))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "{} was readable by others (mode {:o}); made it owner-only",
                    f.display(),
                    mode & 0o777
                );
                std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| ApiError::internal(format!("restricting {}: {e}", f.display())))?;
            }
        }
    }
    Ok(())
}

fn open_file(path: &Path, read_only: bool) -> Result<Connection, ApiError> {
    if !read_only {
        keep_private(path)?;
    }
    let conn = if read_only {
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?
    } else {
        Connection::open(path)?
    };
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never block the writer; NORMAL sync is durable across
    // process crashes and loses at most the last commits on power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_journal_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile_dir();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // Under the usual umask (022) a new file would be world-readable.
        let path = dir.join("clinic.db");
        let db = Db::open(&DbLocation::File(path.clone())).unwrap();
        db.write_now(|c| {
            c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
            Ok(())
        })
        .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let f = dir.join(format!("clinic.db{suffix}"));
            assert!(f.exists(), "{} exists", f.display());
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        drop(db);
        // An existing database others can read is tightened on open.
        for suffix in ["", "-wal", "-shm"] {
            let f = dir.join(format!("clinic.db{suffix}"));
            if f.exists() {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let _db = Db::open(&DbLocation::File(path.clone())).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("clinic-db-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signing_in_never_waits_behind_the_pools_reads() {
        let db = Db::open(&DbLocation::Memory).unwrap();
        // Every reader of the pool busy, and more reads waiting for one.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let (started, mut all_started) = tokio::sync::mpsc::unbounded_channel();
        let mut busy = Vec::new();
        for _ in 0..READERS * 3 {
            let (db, held, started) = (db.clone(), held.clone(), started.clone());
            busy.push(tokio::spawn(async move {
                db.read(move |_| {
                    started.send(()).ok();
                    held.lock().unwrap().recv().ok();
                    Ok(())
                })
                .await
            }));
        }
        for _ in 0..READERS {
            all_started.recv().await.unwrap();
        }
        // The sign-in reader answers while they hold the pool.
        let answer = db
            .read_auth(|c| Ok(c.query_row("SELECT 40 + 2", [], |r| r.get::<_, i64>(0))?))
            .await
            .unwrap();
        assert_eq!(answer, 42);
        assert!(
            busy.iter().all(|b| !b.is_finished()),
            "the bulk reads were still running"
        );
        for _ in 0..READERS * 3 {
            release.send(()).unwrap();
        }
        for b in busy {
            b.await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn a_wal_grown_while_a_reader_held_it_is_given_back() {
        let dir = tempfile_dir();
        let path = dir.join("c.db");
        let db = Db::open(&DbLocation::File(path.clone())).unwrap();
        db.write_now(|c| Ok(c.execute_batch("CREATE TABLE t (x BLOB)")?))
            .unwrap();
        let wal = |p: &std::path::Path| {
            std::fs::metadata(format!("{}-wal", p.display())).map_or(0, |m| m.len())
        };
        // A long read keeps the checkpoint from recycling the WAL…
        let reader = Connection::open(&path).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        for _ in 0..200 {
            db.write(|c| Ok(c.execute("INSERT INTO t VALUES (zeroblob(10000))", [])?))
                .await
                .unwrap();
            db.checkpoint().await.unwrap();
        }
        let grown = wal(&path);
        assert!(grown > 1_000_000, "the WAL grew to {grown} bytes");
        // …and once it is done, the space comes back.
        reader.execute_batch("COMMIT").unwrap();
        assert_eq!(db.truncate_wal().await.unwrap(), grown);
        assert_eq!(wal(&path), 0, "truncated");
        let n: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 200, "nothing lost");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_that_reads_first_waits_for_the_write_lock_instead_of_failing() {
        let dir = tempfile_dir();
        let path = dir.join("c.db");
        let db = Db::open(&DbLocation::File(path.clone())).unwrap();
        db.write_now(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER)")?))
            .unwrap();
        // Another connection holds the write lock for a moment, as the WAL
        // truncation does while it waits for readers.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        let n = db
            .write(|c| {
                let tx = c.transaction()?;
                let n: i64 = tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                tx.execute("INSERT INTO t VALUES (?1)", [n + 1])?;
                tx.commit()?;
                Ok(n + 1)
            })
            .await
            .expect("the change waited for the lock");
        assert_eq!(n, 1);
        release.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn commits_leave_the_wal_to_the_background_checkpoint() {
        let dir = std::env::temp_dir().join(format!("clinic-db-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::open(&DbLocation::File(dir.join("c.db"))).unwrap();
        db.write(|c| {
            for i in 0..200 {
                c.execute(
                    "INSERT INTO tenants (id, name) VALUES (?1, 'x')",
                    [format!("t{i}")],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        // The rows are in the WAL only: the main file has not grown yet.
        let main = dir.join("c.db");
        let before = std::fs::metadata(&main).unwrap().len();
        assert!(
            std::fs::metadata(dir.join("c.db-wal")).unwrap().len() > before,
            "commits went to the WAL"
        );
        db.checkpoint().await.unwrap();
        let after = std::fs::metadata(&main).unwrap().len();
        assert!(
            after > before,
            "the background checkpoint moved the pages in ({before} -> {after})"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
