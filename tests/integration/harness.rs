//! Starts the real `clusterdns` binary on a free loopback port with manifests written by the
//! test, and queries it with hickory's DNS client over UDP and TCP. The process is killed on
//! drop.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_net::DnsHandle;
use hickory_net::proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, Query};
use hickory_net::proto::rr::{Name, RData, Record, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::FirstAnswer;

pub const BINARY: &str = env!("CARGO_BIN_EXE_clusterdns");
const START_TIMEOUT: Duration = Duration::from_secs(20);
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// How a query is sent.
#[derive(Clone, Copy, Debug)]
pub struct Ask {
    pub transport: Transport,
    /// `Some(size)` adds an OPT record advertising that payload.
    pub edns: Option<u16>,
}

pub const UDP: Ask = Ask { transport: Transport::Udp, edns: None };
pub const TCP: Ask = Ask { transport: Transport::Tcp, edns: None };

pub struct DnsServer {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
    provider: TokioRuntimeProvider,
}

impl DnsServer {
    /// Writes `files` (name, contents) into a fresh folder and serves it with `args` added.
    pub fn start(files: &[(&str, &str)], args: &[&str]) -> DnsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write manifest");
        }
        let manifests = dir.path().to_str().expect("utf-8 temp path").to_string();
        let mut all_args = vec!["--manifests", manifests.as_str(), "--listen", "127.0.0.1:0"];
        all_args.extend_from_slice(args);
        Self::spawn(dir, &all_args)
    }

    /// Starts the binary on a free loopback port with exactly these arguments otherwise.
    pub fn start_with(args: &[&str]) -> DnsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut all_args = vec!["--listen", "127.0.0.1:0"];
        all_args.extend_from_slice(args);
        Self::spawn(dir, &all_args)
    }

    /// Serves what the test API server holds, through a kubeconfig that points at it.
    pub fn start_api(api: &crate::apiserver::ApiServer, args: &[&str]) -> DnsServer {
        let server = Self::start_api_bound(api, args);
        server.wait_for_log("serving the cluster zone", START_TIMEOUT).expect("cluster zone served");
        server
    }

    /// Like [`Self::start_api`], but returns once the sockets are bound, while start-up may
    /// still be waiting for the first list.
    pub fn start_api_bound(api: &crate::apiserver::ApiServer, args: &[&str]) -> DnsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = api.kubeconfig_arg();
        let mut all_args = vec!["--kubeconfig", kubeconfig.as_str(), "--listen", "127.0.0.1:0"];
        all_args.extend_from_slice(args);
        Self::spawn_bound(dir, &all_args)
    }

    fn spawn(dir: tempfile::TempDir, args: &[&str]) -> DnsServer {
        let server = Self::spawn_bound(dir, args);
        server.wait_for_log("serving the cluster zone", START_TIMEOUT).expect("cluster zone served");
        server
    }

    /// Serves `files` as manifests inside a network namespace, listening where `args` say.
    /// Its `addr` is in that namespace: query it from there, never with [`Self::query`].
    pub fn start_in_netns(netns: &crate::netns::Netns, files: &[(&str, &str)], args: &[&str]) -> DnsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write manifest");
        }
        let manifests = dir.path().to_str().expect("utf-8 temp path").to_string();
        let mut all_args = vec!["--manifests", manifests.as_str()];
        all_args.extend_from_slice(args);
        let server = Self::spawn_bound_in(dir, &all_args, Some(netns));
        server.wait_for_log("serving the cluster zone", START_TIMEOUT).expect("cluster zone served");
        server
    }

    fn spawn_bound(dir: tempfile::TempDir, args: &[&str]) -> DnsServer {
        Self::spawn_bound_in(dir, args, None)
    }

    /// Runs clusterdns with `args` inside `netns`, in a mount namespace of its own where `etc`
    /// is `/etc`: a Corefile there runs as written (its `/etc/resolv.conf` is the test's, never
    /// the machine's). Returns once it listens; `addr` is in the namespace.
    pub fn start_with_etc(netns: &crate::netns::Netns, etc: &Path, args: &[&str]) -> DnsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c", "mount --bind \"$0\" /etc && exec \"$@\""])
            .arg(etc)
            .arg(BINARY)
            .args(args);
        Self::spawn_command(dir, command, Some(netns))
    }

    fn spawn_bound_in(dir: tempfile::TempDir, args: &[&str], netns: Option<&crate::netns::Netns>) -> DnsServer {
        // Never forward to the machine's resolvers: only to upstreams a test starts on loopback.
        let no_system_upstreams: &[&str] =
            if args.contains(&"--resolv-conf") { &[] } else { &["--resolv-conf", "/dev/null"] };
        let mut command = Command::new(BINARY);
        command.args(no_system_upstreams).args(args);
        Self::spawn_command(dir, command, netns)
    }

    fn spawn_command(dir: tempfile::TempDir, mut command: Command, netns: Option<&crate::netns::Netns>) -> DnsServer {
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        // A process started by a thread inside a network namespace lives in that namespace.
        let mut child = match netns {
            Some(netns) => netns.run(|| command.spawn()),
            None => command.spawn(),
        }
        .expect("start clusterdns");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = DnsServer {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            logs,
            dir,
            provider: TokioRuntimeProvider::default(),
        };
        let line = server.wait_for_log("listening for UDP on ", START_TIMEOUT);
        let line = line.unwrap_or_else(|| panic!("clusterdns did not start; logs:\n{}", server.logs().join("\n")));
        server.addr = line.rsplit(' ').next().unwrap().parse().expect("address in the listening line");
        server
    }

    pub fn manifest_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The first log line containing `needle`, waiting up to `timeout` for it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.logs.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return Some(line.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`Self::wait_for_log`], but a missing line fails the test and shows the logs.
    #[track_caller]
    pub fn expect_log(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_log(needle, timeout)
            .unwrap_or_else(|| panic!("no log line with {needle:?}; logs:\n{}", self.logs().join("\n")))
    }

    /// The admin endpoint's address, from its startup log line (needs `--admin`).
    pub fn admin_addr(&self) -> SocketAddr {
        let line = self.expect_log("admin endpoint on http://", START_TIMEOUT);
        line.rsplit("http://").next().unwrap().trim().parse().expect("admin address")
    }

    /// GET `path` from the admin endpoint: (status code, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin_addr(), path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends a signal by name (`HUP`, `TERM`...).
    pub fn signal(&self, name: &str) {
        Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().expect("kill");
    }

    /// Waits for the process to exit: its exit code, or `None` if it is still running at `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub async fn query(&self, name: &str, rtype: RecordType) -> Message {
        self.ask(name, rtype, UDP).await
    }

    pub async fn ask(&self, name: &str, rtype: RecordType, ask: Ask) -> Message {
        self.exchange(query_message(name, rtype, ask.edns), ask.transport).await
    }

    pub async fn exchange(&self, message: Message, transport: Transport) -> Message {
        exchange(self.addr, message, transport, &self.provider).await
    }

    /// Asks `name` over UDP from the local address `source` (any address of 127.0.0.0/8 is
    /// this host's), as a client at that address would.
    pub async fn query_from(&self, source: IpAddr, name: &str, rtype: RecordType) -> Message {
        let request = DnsRequest::new(query_message(name, rtype, None), DnsRequestOptions::default());
        let udp = UdpClientStream::builder(self.addr, self.provider.clone())
            .with_timeout(Some(QUERY_TIMEOUT))
            .with_bind_addr(Some(SocketAddr::new(source, 0)))
            .exchange();
        udp.send(request).first_answer().await.expect("a DNS response").into_message()
    }

    /// Polls `name` until `done` holds for the response, or `timeout` passes.
    pub async fn eventually(
        &self,
        name: &str,
        rtype: RecordType,
        timeout: Duration,
        done: impl Fn(&Message) -> bool,
    ) -> Message {
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.query(name, rtype).await;
            if done(&response) || Instant::now() > deadline {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `path` exists within `timeout` (polled).
pub fn file_appears(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends `message` to the DNS server at `addr` and returns its response.
pub async fn exchange(
    addr: SocketAddr,
    message: Message,
    transport: Transport,
    provider: &TokioRuntimeProvider,
) -> Message {
    let request = DnsRequest::new(message, DnsRequestOptions::default());
    let response = match transport {
        Transport::Udp => {
            let udp = UdpClientStream::builder(addr, provider.clone()).with_timeout(Some(QUERY_TIMEOUT)).exchange();
            udp.send(request).first_answer().await
        }
        Transport::Tcp => {
            let tcp = TcpClientStream::exchange(addr, None, QUERY_TIMEOUT, None, provider.clone())
                .await
                .expect("TCP connection");
            tcp.send(request).first_answer().await
        }
    };
    response.expect("a DNS response").into_message()
}

/// A recursive query for `name`, with an OPT record advertising `edns` when given.
pub fn query_message(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut message = Message::query();
    message.add_query(Query::query(Name::from_ascii(name).expect("query name"), rtype));
    message.metadata.recursion_desired = true;
    if let Some(size) = edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        message.set_edns(edns);
    }
    message
}

/// One HTTP/1.1 GET: (status code, body); status 0 when nothing answered.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, QUERY_TIMEOUT) else {
        return (0, String::new());
    };
    stream.set_read_timeout(Some(QUERY_TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// Runs the binary with `args` to completion: (exit code, stdout, stderr).
pub fn run_to_exit(args: &[&str]) -> (i32, String, String) {
    run_with_env(args, &[])
}

/// Like [`run_to_exit`], with environment variables set (`Some`) or removed (`None`).
pub fn run_with_env(args: &[&str], env: &[(&str, Option<&str>)]) -> (i32, String, String) {
    let mut command = Command::new(BINARY);
    command.args(args).stdin(Stdio::null());
    for (key, value) in env {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let out = command.output().expect("run clusterdns");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Answer records as zone-file text (`name ttl IN type rdata`), sorted, for whole-set asserts.
pub fn texts(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> =
        records.iter().map(|r| r.to_string().split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    out.sort();
    out
}

/// The rdata of answer records, as text, sorted.
pub fn rdatas(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = records.iter().map(|r| r.data.to_string()).collect();
    out.sort();
    out
}

pub fn soa_serial(message: &Message) -> Option<u32> {
    message.authorities.iter().chain(&message.answers).find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}
