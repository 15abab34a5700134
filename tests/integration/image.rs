//! The container image: `deploy/build-image.sh` builds it offline from the binary under test,
//! and `deploy/Dockerfile` describes the same image; it survives a push to a registry. Building,
//! pushing and running images needs root, umoci, skopeo, docker-registry, runc, iproute2, strip
//! and setcap; where they are missing these tests and the container
//! tests skip with a message, unless CLUSTERDNS_REQUIRE_ROOT_TESTS is set (as `.ci/run`
//! does), which turns the skip into a failure. CLUSTERDNS_TEST_IMAGE=LAYOUT tests an image
//! built beforehand (e.g. the release image in `target/oci`) instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::harness::BINARY;

pub struct Image {
    pub layout: PathBuf,
    pub tag: String,
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn crate_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Whether this machine can build and run images; says loudly why not, or fails the test when
/// CLUSTERDNS_REQUIRE_ROOT_TESTS is set.
pub fn can_run_containers(test: &str) -> bool {
    let tools = [
        ("runc", "--version"),
        ("umoci", "--version"),
        ("skopeo", "--version"),
        ("docker-registry", "--version"),
        ("ip", "-V"),
        ("setcap", "-h"),
        ("strip", "-V"),
    ];
    crate::requires::root_and(test, &tools, "runc umoci skopeo docker-registry iproute2 libcap2-bin binutils")
}

/// The image, built once per test run with `deploy/build-image.sh --binary <binary under test>`.
pub fn built() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        if let Some(layout) = std::env::var_os("CLUSTERDNS_TEST_IMAGE") {
            return Image { layout: layout.into(), tag: crate_version().to_string() };
        }
        let layout = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oci");
        let out = Command::new(repository().join("deploy/build-image.sh"))
            .args(["--binary", BINARY])
            .arg(&layout)
            .env("CLUSTERDNS_IMAGE_SOURCE", "https://clusterdns.invalid/source")
            .output()
            .expect("run deploy/build-image.sh");
        assert!(
            out.status.success(),
            "deploy/build-image.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Image { layout, tag: crate_version().to_string() }
    })
}

impl Image {
    /// Unpacks the image into an OCI runtime bundle (`rootfs/` and a default `config.json`).
    pub fn unpack(&self, bundle: &Path) {
        let image = format!("{}:{}", self.layout.display(), self.tag);
        let out = Command::new("umoci").args(["unpack", "--image", &image]).arg(bundle).output().expect("run umoci");
        assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The image configuration (`config` holds User, Entrypoint, ExposedPorts, Labels...).
    pub fn config(&self) -> Value {
        let index = self.blob_json("index.json");
        let manifest = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == self.tag.as_str())
            .unwrap_or_else(|| panic!("no manifest tagged {} in {index}", self.tag));
        let manifest = self.blob_json(&blob_path(&manifest["digest"]));
        self.blob_json(&blob_path(&manifest["config"]["digest"]))
    }

    fn blob_json(&self, path: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.layout.join(path)).unwrap()).unwrap()
    }
}

fn blob_path(digest: &Value) -> String {
    format!("blobs/{}", digest.as_str().unwrap().replace(':', "/"))
}

/// The instructions of the Dockerfile's last stage, as (INSTRUCTION, arguments), continuation
/// lines joined.
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    let instructions: Vec<(String, String)> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' ').map(|(i, rest)| (i.to_uppercase(), rest.trim().to_string())))
        .collect();
    let last_from = instructions.iter().rposition(|(i, _)| i == "FROM").expect("a FROM");
    instructions[last_from..].to_vec()
}

fn instruction<'a>(stage: &'a [(String, String)], name: &str) -> &'a str {
    stage.iter().find(|(i, _)| i == name).map(|(_, rest)| rest.as_str()).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn the_dockerfile_describes_the_image_that_build_image_sh_builds() {
    if !can_run_containers("the_dockerfile_describes_the_image_that_build_image_sh_builds") {
        return;
    }
    let image = built();
    let config = &image.config()["config"];
    let dockerfile = std::fs::read_to_string(repository().join("deploy/Dockerfile")).unwrap();
    assert!(dockerfile.contains("deploy/image/stage-rootfs.sh"), "the Dockerfile stages the same root filesystem");
    let stage = final_stage(&dockerfile);
    assert_eq!(instruction(&stage, "FROM"), "scratch");
    assert_eq!(instruction(&stage, "USER"), config["User"]);
    assert_eq!(instruction(&stage, "WORKDIR"), config["WorkingDir"]);
    assert_eq!(instruction(&stage, "STOPSIGNAL"), config["StopSignal"]);
    let entrypoint: Value = serde_json::from_str(instruction(&stage, "ENTRYPOINT")).unwrap();
    assert_eq!(entrypoint, config["Entrypoint"]);
    let exposed: BTreeSet<&str> = instruction(&stage, "EXPOSE").split_whitespace().collect();
    let image_ports: BTreeSet<&str> = config["ExposedPorts"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(exposed, image_ports);
    let labels: BTreeSet<&str> = instruction(&stage, "LABEL")
        .split_whitespace()
        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k))
        .collect();
    let image_labels: BTreeSet<&str> = config["Labels"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(labels, image_labels);
    assert_eq!(instruction(&stage, "ARG"), format!("VERSION={}", crate_version()), "the Dockerfile's version");
    assert_eq!(config["Labels"]["org.opencontainers.image.version"], crate_version());
}

#[test]
fn the_image_holds_the_binary_without_debug_information_and_with_its_file_capability() {
    if !can_run_containers("the_image_holds_the_binary_without_debug_information_and_with_its_file_capability") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    built().unpack(&bundle);
    let binary = bundle.join("rootfs/usr/local/bin/clusterdns");
    let getcap = Command::new("getcap").arg(&binary).output().expect("run getcap");
    assert!(String::from_utf8_lossy(&getcap.stdout).contains("cap_net_bind_service=ep"), "{getcap:?}");
    let sections = Command::new("readelf").arg("-S").arg(&binary).output().expect("run readelf");
    let sections = String::from_utf8_lossy(&sections.stdout);
    assert!(sections.contains(".text") && !sections.contains(".debug_info"), "{sections}");
    let passwd = std::fs::read_to_string(bundle.join("rootfs/etc/passwd")).unwrap();
    assert!(passwd.contains(":65532:65532:"), "{passwd}");
}

/// A container registry (Debian's `docker-registry`, the CNCF distribution) on a free loopback
/// port, stopped on drop.
struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("data");
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        std::fs::write(&config, yaml).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { child, port, _dir: dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo").args(args).output().expect("run skopeo");
    assert!(out.status.success(), "skopeo {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_image_pushed_to_a_registry_as_deploy_readme_says_comes_back_with_its_file_capability() {
    if !can_run_containers("the_image_pushed_to_a_registry_as_deploy_readme_says_comes_back_with_its_file_capability") {
        return;
    }
    let registry = Registry::start();
    let image = built();
    let source = format!("oci:{}:{}", image.layout.display(), image.tag);
    let remote = format!("docker://127.0.0.1:{}/clusterdns:{}", registry.port, image.tag);
    skopeo(&["copy", "--dest-tls-verify=false", &source, &remote]);
    let dir = tempfile::tempdir().unwrap();
    let pulled = Image { layout: dir.path().join("pulled"), tag: image.tag.clone() };
    skopeo(&["copy", "--src-tls-verify=false", &remote, &format!("oci:{}:{}", pulled.layout.display(), pulled.tag)]);
    assert_eq!(pulled.config()["config"], image.config()["config"]);
    pulled.unpack(&dir.path().join("bundle"));
    let getcap =
        Command::new("getcap").arg(dir.path().join("bundle/rootfs/usr/local/bin/clusterdns")).output().unwrap();
    assert!(String::from_utf8_lossy(&getcap.stdout).contains("cap_net_bind_service=ep"), "{getcap:?}");
}
