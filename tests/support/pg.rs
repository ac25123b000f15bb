//! A throwaway PostgreSQL cluster for one test: initdb into a temp dir, a
//! private port on loopback, trust authentication, stopped when dropped.
//! PostgreSQL refuses to run as root, so under root the server runs as a
//! system user of its own, created on first use.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An operating-system user the tests run processes as.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    /// The system user `name`, created when missing; `None` unless this
    /// process runs as root (only root can create users and switch to them).
    pub fn ensure(name: &str) -> Option<TestUser> {
        if !is_root() {
            return None;
        }
        // Tests of one binary start clusters in parallel threads, and
        // concurrent `useradd`s of the same name on a fresh machine each
        // wrote their own entry: a thread then ran initdb as a uid the
        // next write had removed. One creation at a time.
        static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _creating = CREATING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let exists = Command::new("id").arg("-u").arg(name).output().is_ok_and(|o| o.status.success());
        if !exists {
            let out = Command::new("useradd")
                .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
                .output()
                .expect("run useradd");
            assert!(out.status.success(), "useradd {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").arg(flag).arg(name).output().expect("run id");
            String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
        };
        Some(TestUser { name: name.to_owned(), uid: id("-u"), gid: id("-g") })
    }

    /// Make `cmd` run as this user, with no supplementary groups of ours.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.uid(self.uid).gid(self.gid);
    }

    /// Give this user `path` and everything below it.
    pub fn own(&self, path: &Path) {
        let out = Command::new("chown").arg("-R").arg(format!("{}:{}", self.uid, self.gid)).arg(path).output();
        assert!(out.is_ok_and(|o| o.status.success()), "chown {}", path.display());
    }

    /// Let this user pass through (not list) every directory above `path`
    /// that others may not pass, with an ACL entry for this user alone, so
    /// it can run tools installed under root's home.
    pub fn allow_traverse(&self, path: &Path) {
        for dir in path.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(dir) else { continue };
            if meta.mode() & 0o001 == 0 {
                let out = Command::new("setfacl").arg("-m").arg(format!("u:{}:x", self.name)).arg(dir).output();
                assert!(
                    out.is_ok_and(|o| o.status.success()),
                    "setfacl on {} failed; run scripts/setup --postgres (it installs acl)",
                    dir.display()
                );
            }
        }
    }
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A free TCP port on loopback (free when asked; the server takes it at once).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local addr").port()
}

/// The newest installed server's `bin` dir (Debian puts it outside PATH).
fn server_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop().expect("no PostgreSQL server under /usr/lib/postgresql: run scripts/setup --postgres")
}

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    user: Option<TestUser>,
    /// Server settings beyond the defaults (TLS).
    settings: String,
}

impl PgCluster {
    pub fn start() -> PgCluster {
        PgCluster::start_with(false)
    }

    /// A cluster that also speaks TLS, its certificate for 127.0.0.1 signed
    /// by a CA of its own ([`PgCluster::certificate`]).
    pub fn start_with_tls() -> PgCluster {
        PgCluster::start_with(true)
    }

    /// The certificate of the CA that signed the server's.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn start_with(tls: bool) -> PgCluster {
        let bin = server_bin();
        let dir = tempfile::Builder::new().prefix("clx-pg-").tempdir().expect("temp dir");
        let user = TestUser::ensure("clx-pg");
        if let Some(u) = &user {
            u.own(dir.path());
        }
        let mut cluster = PgCluster { dir, bin, port: free_port(), user, settings: String::new() };
        if tls {
            let dir = cluster.dir.path();
            let (key, cert) = (dir.join("server.key"), dir.join("server.crt"));
            std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
                .expect("write the certificate extensions");
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
                assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            };
            // A CA of the test's own signs the server's certificate.
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=clx test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ]);
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ]);
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod key");
            if let Some(u) = &cluster.user {
                u.own(cluster.dir.path());
            }
            cluster.settings =
                format!(" -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", cert.display(), key.display());
        }
        let data = cluster.data();
        cluster.run("initdb", &["-D", path(&data), "-A", "trust", "-U", "clx", "-E", "UTF8", "--no-sync"]);
        cluster.pg_ctl("start");
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.env("LC_ALL", "C").current_dir(self.dir.path());
        if let Some(u) = &self.user {
            u.apply(&mut cmd);
        }
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self.command(program).args(args).output().expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200{}",
            self.port,
            self.dir.path().display(),
            self.settings
        );
        let log = self.dir.path().join("server.log");
        let data = self.data();
        self.run("pg_ctl", &["-D", path(&data), "-l", path(&log), "-o", &options, "-m", "fast", "-w", action]);
    }

    /// Restart the server: every client's connection is cut.
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    /// Stop the server (an outage), until [`PgCluster::resume`].
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    /// Start the server again after [`PgCluster::stop`].
    pub fn resume(&self) {
        self.pg_ctl("start");
    }

    /// A new database on this cluster, and its URL.
    pub fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://clx@127.0.0.1:{}/{db}", self.port)
    }

    /// Run SQL on `db`; `None` when it fails (a table not created yet).
    pub fn try_psql(&self, db: &str, sql: &str) -> Option<String> {
        let out = self.command("psql").args(["-X", "-q", "-At", "-d", &self.url(db), "-c", sql]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Run SQL on `db` and return the rows, `|`-separated, one per line.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.run("psql", &["-X", "-q", "-At", "-d", &self.url(db), "-c", sql]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.command("pg_ctl").args(["-D", path(&data), "-m", "immediate", "-w", "stop"]).output();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}
