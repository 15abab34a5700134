//! A network namespace a test creates for a pod (`ip netns add`), deleted on drop. Its loopback
//! interface carries the pod's addresses, so everything the test sends stays inside it. Code
//! runs inside it on a thread that has joined it (`setns`): sockets that thread creates belong to
//! the namespace for their whole life, whichever thread uses them later.

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Netns {
    name: String,
    pub path: PathBuf,
}

impl Netns {
    /// A new namespace with loopback up and `addresses` on it.
    pub fn create(addresses: &[IpAddr]) -> Netns {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("clusterdns-test-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name]);
        let netns = Netns { path: PathBuf::from("/run/netns").join(&name), name };
        ip(&["-n", &netns.name, "link", "set", "lo", "up"]);
        for address in addresses {
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            ip(&["-n", &netns.name, "address", "add", &format!("{address}/{prefix}"), "dev", "lo"]);
        }
        netns
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let file = std::fs::File::open(&self.path).expect("open the network namespace");
                    // SAFETY: a valid descriptor of a network namespace; only this thread moves.
                    let joined = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .expect("the thread inside the namespace")
        })
    }

    /// Runs the future `f` makes on a single-threaded tokio runtime inside the namespace.
    pub fn block_on<F: Future>(&self, f: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        self.run(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f()))
    }
}

impl Netns {
    /// The `/etc/resolv.conf` that programs run with [`Netns::exec`] see (`ip netns exec`
    /// bind-mounts `/etc/netns/<name>/` over `/etc/` in a mount namespace of their own).
    pub fn set_resolv_conf(&self, text: &str) {
        let dir = Path::new("/etc/netns").join(&self.name);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/<name>");
        std::fs::write(dir.join("resolv.conf"), text).expect("write the namespace's resolv.conf");
    }

    /// A command run inside the namespace, with its own `/etc/resolv.conf`.
    pub fn exec(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Netns {
    /// Whether this kernel makes dummy interfaces (some CI virtual machines have no driver).
    pub fn makes_dummy_interfaces(&self) -> bool {
        let probe = self.exec(Path::new("ip")).args(["link", "add", "dummy-probe", "type", "dummy"]).output();
        let made = probe.expect("run ip").status.success();
        if made {
            let _ = self.exec(Path::new("ip")).args(["link", "delete", "dummy-probe"]).status();
        }
        made
    }

    /// An interface named `name` as a node's setup would make it where there is no dummy
    /// driver: a bridge without ports, to which clusterdns adds its addresses.
    pub fn add_stand_in_interface(&self, name: &str) {
        let added = self.exec(Path::new("ip")).args(["link", "add", name, "type", "bridge"]).status();
        assert!(added.expect("run ip").success(), "add the interface {name}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.name]).status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.name));
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}
