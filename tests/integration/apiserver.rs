//! An in-process Kubernetes API server for tests. It speaks the real HTTP protocol that kube
//! uses: paginated LIST with resourceVersion and continue tokens, WATCH streams of chunked JSON
//! events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), `410 Gone` for expired resource
//! versions, dropped streams and 503s; over plain HTTP, or over HTTPS with a bearer token as in
//! a cluster. Objects are k8s-openapi types. It runs on its own thread, so tests may block while
//! it serves.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// How often an idle watch gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    Services,
    EndpointSlices,
    Namespaces,
    Pods,
    /// `multicluster.x-k8s.io/v1alpha1`, served once [`ApiServer::install_mcs_crd`] is called.
    ServiceImports,
    Nodes,
}

impl Resource {
    fn from_plural(plural: &str) -> Option<Resource> {
        Some(match plural {
            "services" => Resource::Services,
            "endpointslices" => Resource::EndpointSlices,
            "namespaces" => Resource::Namespaces,
            "pods" => Resource::Pods,
            "serviceimports" => Resource::ServiceImports,
            "nodes" => Resource::Nodes,
            _ => return None,
        })
    }

    fn from_kind(kind: &str) -> Resource {
        match kind {
            "Service" => Resource::Services,
            "EndpointSlice" => Resource::EndpointSlices,
            "Namespace" => Resource::Namespaces,
            "Pod" => Resource::Pods,
            "ServiceImport" => Resource::ServiceImports,
            "Node" => Resource::Nodes,
            other => panic!("the test API server does not serve {other}"),
        }
    }

    fn list_kind(self) -> (&'static str, &'static str) {
        match self {
            Resource::Services => ("v1", "ServiceList"),
            Resource::EndpointSlices => ("discovery.k8s.io/v1", "EndpointSliceList"),
            Resource::Namespaces => ("v1", "NamespaceList"),
            Resource::Pods => ("v1", "PodList"),
            Resource::ServiceImports => ("multicluster.x-k8s.io/v1alpha1", "ServiceImportList"),
            Resource::Nodes => ("v1", "NodeList"),
        }
    }

    fn kind(self) -> (&'static str, &'static str) {
        match self {
            Resource::Services => ("v1", "Service"),
            Resource::EndpointSlices => ("discovery.k8s.io/v1", "EndpointSlice"),
            Resource::Namespaces => ("v1", "Namespace"),
            Resource::Pods => ("v1", "Pod"),
            Resource::ServiceImports => ("multicluster.x-k8s.io/v1alpha1", "ServiceImport"),
            Resource::Nodes => ("v1", "Node"),
        }
    }
}

type Key = (Resource, String, String);

struct Event {
    rv: u64,
    resource: Resource,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Event>,
    /// A watch from an older resourceVersion gets 410 Gone.
    oldest_watchable: u64,
    unavailable: bool,
    hold_lists: bool,
    /// Bumped to cut every open watch stream.
    generation: u64,
    /// "VERB path" of every request, for asserting what the client asked.
    requests: Vec<String>,
    /// Requests refused for a missing or wrong bearer token.
    unauthorized: usize,
    /// Bytes of every response (TLS framing aside), for measuring what clients cost.
    bytes_sent: u64,
    /// A network partition: requests get no answer and open watches go silent, and nothing is
    /// closed. `partitions` counts them, so streams from before a partition stay dead after it.
    partitioned: bool,
    partitions: u64,
    /// The ServiceImport CustomResourceDefinition is installed: until then its path is 404.
    mcs_crd: bool,
    /// Streaming lists (`sendInitialEvents`) are served, as by Kubernetes 1.34 and later;
    /// until then they are refused with 422, as by 1.33.
    watch_list: bool,
}

/// HTTPS and the bearer token every request must carry.
struct Security {
    acceptor: TlsAcceptor,
    token: String,
    ca_pem: String,
}

/// A CA and a server certificate it signed for one IP address.
struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Pki {
    fn new(ip: std::net::IpAddr) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "clusterdns test cluster CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::new(vec!["kubernetes.default.svc".to_string()]).unwrap();
        params.subject_alt_names.push(SanType::IpAddress(ip));
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Pki { ca_pem: ca.pem(), cert: cert.der().clone(), key: PrivatePkcs8KeyDer::from(key.serialize_der()) }
    }

    fn acceptor(&self) -> TlsAcceptor {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key().into())
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

pub struct ApiServer {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    security: Option<Arc<Security>>,
    _dir: tempfile::TempDir,
    pub kubeconfig: std::path::PathBuf,
}

impl ApiServer {
    /// Plain HTTP on loopback, without authentication.
    pub fn start() -> ApiServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cluster = format!("{{server: \"http://{addr}\"}}");
        Self::serve(listener, None, dir, &cluster, "{}")
    }

    /// HTTPS on `listener`, as an API server in a cluster serves: a certificate for the
    /// listener's address signed by a fresh CA, and every request must carry `Authorization:
    /// Bearer <token>` (401 otherwise). The CA is in [`ApiServer::ca_pem`]; the kubeconfig
    /// trusts it and sends the token.
    pub fn start_https(listener: std::net::TcpListener, token: &str) -> ApiServer {
        let addr = listener.local_addr().unwrap();
        let pki = Pki::new(addr.ip());
        let dir = tempfile::tempdir().unwrap();
        let ca_path = dir.path().join("ca.crt");
        std::fs::write(&ca_path, &pki.ca_pem).unwrap();
        let cluster = format!("{{server: \"https://{addr}\", certificate-authority: \"{}\"}}", ca_path.display());
        let user = format!("{{token: \"{token}\"}}");
        let security = Security { acceptor: pki.acceptor(), token: token.to_string(), ca_pem: pki.ca_pem };
        Self::serve(listener, Some(Arc::new(security)), dir, &cluster, &user)
    }

    fn serve(
        std_listener: std::net::TcpListener,
        security: Option<Arc<Security>>,
        dir: tempfile::TempDir,
        cluster: &str,
        user: &str,
    ) -> ApiServer {
        let state = Arc::new(Mutex::new(State { rv: 1, ..State::default() }));
        let changed = Arc::new(Notify::new());
        std_listener.set_nonblocking(true).unwrap();
        let (s, c, tls) = (state.clone(), changed.clone(), security.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                while let Ok((stream, _)) = listener.accept().await {
                    let (s, c, tls) = (s.clone(), c.clone(), tls.clone());
                    tokio::spawn(async move {
                        match tls {
                            None => connection(stream, s, c, None).await,
                            Some(tls) => {
                                if let Ok(stream) = tls.acceptor.accept(stream).await {
                                    connection(stream, s, c, Some(&tls.token)).await;
                                }
                            }
                        }
                    });
                }
            });
        });
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
                 clusters: [{{name: test, cluster: {cluster}}}]\n\
                 users: [{{name: test, user: {user}}}]\n\
                 contexts: [{{name: test, context: {{cluster: test, user: test}}}}]\n"
            ),
        )
        .unwrap();
        ApiServer { state, changed, security, _dir: dir, kubeconfig }
    }

    /// The CA that signed the HTTPS certificate (see [`ApiServer::start_https`]).
    pub fn ca_pem(&self) -> &str {
        &self.security.as_ref().expect("an HTTPS test API server").ca_pem
    }

    pub fn kubeconfig_arg(&self) -> String {
        self.kubeconfig.to_str().unwrap().to_string()
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let result = f(&mut self.state.lock().unwrap());
        self.changed.notify_waiters();
        result
    }

    /// Creates or replaces an object (ADDED or MODIFIED).
    pub fn apply<K: serde::Serialize>(&self, object: &K) {
        let mut value = serde_json::to_value(object).unwrap();
        let resource = Resource::from_kind(value["kind"].as_str().unwrap());
        let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap().to_string();
        self.with_state(|state| {
            state.rv += 1;
            value["metadata"]["resourceVersion"] = json!(state.rv.to_string());
            let previous = state.objects.insert((resource, namespace, name), value.clone());
            let kind = if previous.is_some() { "MODIFIED" } else { "ADDED" };
            state.history.push(Event { rv: state.rv, resource, kind, object: value });
        });
    }

    /// Serves streaming lists from now on (the WatchList feature, on by default since
    /// Kubernetes 1.34).
    pub fn serve_streaming_lists(&self) {
        self.with_state(|state| state.watch_list = true);
    }

    /// Serves ServiceImports from now on, as a cluster does once their CRD is installed.
    pub fn install_mcs_crd(&self) {
        self.with_state(|state| state.mcs_crd = true);
    }

    pub fn delete(&self, resource: Resource, namespace: &str, name: &str) {
        self.with_state(|state| {
            let Some(mut value) = state.objects.remove(&(resource, namespace.to_string(), name.to_string())) else {
                panic!("no {resource:?} {namespace}/{name} to delete");
            };
            state.rv += 1;
            value["metadata"]["resourceVersion"] = json!(state.rv.to_string());
            state.history.push(Event { rv: state.rv, resource, kind: "DELETED", object: value });
        });
    }

    /// Every request gets 503 while set, and open watches are cut.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.with_state(|state| {
            state.unavailable = unavailable;
            state.generation += 1;
        });
    }

    /// Starts or ends a network partition: while it lasts, requests get no answer; watch
    /// streams open when it starts never send again, and nothing is ever closed (no FIN, no
    /// RST), as when the far side has forgotten a connection the client still holds.
    pub fn partition(&self, on: bool) {
        self.with_state(|state| {
            state.partitioned = on;
            if on {
                state.partitions += 1;
            }
        });
    }

    /// LIST requests wait while set.
    pub fn hold_lists(&self, hold: bool) {
        self.with_state(|state| state.hold_lists = hold);
    }

    /// Cuts every open watch stream; clients resume from their last resourceVersion.
    pub fn cut_watches(&self) {
        self.with_state(|state| state.generation += 1);
    }

    /// Deletes an object while every watch is cut, and forgets the history (etcd compaction), so
    /// clients learn of the deletion only by relisting after their resume gets 410 Gone.
    pub fn delete_during_gap(&self, resource: Resource, namespace: &str, name: &str) {
        self.with_state(|state| {
            state.generation += 1;
            state.objects.remove(&(resource, namespace.to_string(), name.to_string())).expect("object to delete");
            state.rv += 1;
            state.oldest_watchable = state.rv + 1;
            state.history.clear();
        });
    }

    /// Expires every resource version clients hold, as after etcd compaction: every resumed
    /// watch gets 410 Gone and relists. Open streams are cut. (Used by benches/churn.rs.)
    #[allow(dead_code)]
    pub fn force_relist(&self) {
        self.with_state(|state| {
            state.generation += 1;
            state.rv += 1;
            state.oldest_watchable = state.rv + 1;
            state.history.clear();
        });
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many requests came without the right bearer token.
    pub fn unauthorized(&self) -> usize {
        self.state.lock().unwrap().unauthorized
    }

    /// Bytes sent in responses so far: HTTP heads and bodies, lists and watch events (what
    /// `cargo bench --bench churn` reports as the API server's load).
    #[allow(dead_code)]
    pub fn bytes_sent(&self) -> u64 {
        self.state.lock().unwrap().bytes_sent
    }

    /// Waits until `count` watch requests for `plural` have been made.
    pub fn wait_for_watches(&self, plural: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            // A streaming list the server refuses (422) opens no watch.
            let refused = !self.state.lock().unwrap().watch_list;
            let opened = |r: &&String| !(refused && r.contains("sendInitialEvents=true"));
            let seen = self
                .requests()
                .iter()
                .filter(|r| r.contains(plural) && r.contains("watch=true"))
                .filter(opened)
                .count();
            if seen >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    /// The token of an `Authorization: Bearer` header.
    bearer: Option<String>,
}

async fn connection(
    stream: impl AsyncRead + AsyncWrite + Unpin,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    token: Option<&str>,
) {
    let (read, write) = tokio::io::split(stream);
    let mut write = Counted { inner: write, state: state.clone() };
    let mut reader = BufReader::new(read);
    loop {
        let Some(request) = read_request(&mut reader).await else { return };
        if let Some(token) = token
            && request.bearer.as_deref() != Some(token)
        {
            state.lock().unwrap().unauthorized += 1;
            let _ = send_json(&mut write, 401, &status(401, "Unauthorized", "Unauthorized")).await;
            return;
        }
        let keep_open = respond(&request, &mut write, &state, &changed).await;
        if !keep_open {
            return;
        }
    }
}

/// A response stream that adds what it writes to [`State::bytes_sent`].
struct Counted<W> {
    inner: W,
    state: Arc<Mutex<State>>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counted<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = written {
            self.state.lock().unwrap().bytes_sent += n as u64;
        }
        written
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn read_request(reader: &mut BufReader<impl AsyncRead + Unpin>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut bearer = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await.ok()? == 0 {
            return None;
        }
        if header == "\r\n" || header == "\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            bearer = value.trim().strip_prefix("Bearer ").map(str::to_string);
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request { method, path: path.to_string(), query, bearer })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/api/v1/services`, `/api/v1/namespaces/{ns}/services`, `/apis/discovery.k8s.io/v1/...`.
fn route(path: &str) -> Option<(Resource, Option<String>)> {
    let rest = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/apis/discovery.k8s.io/v1/"))
        .or_else(|| path.strip_prefix("/apis/multicluster.x-k8s.io/v1alpha1/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [plural] => Some((Resource::from_plural(plural)?, None)),
        ["namespaces", ns, plural] => Some((Resource::from_plural(plural)?, Some(ns.to_string()))),
        _ => None,
    }
}

async fn respond(
    request: &Request,
    out: &mut (impl AsyncWrite + Unpin),
    state: &Mutex<State>,
    changed: &Notify,
) -> bool {
    let query_text: Vec<String> = request.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let (unavailable, partitioned) = {
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{} {}?{}", request.method, request.path, query_text.join("&")));
        (s.unavailable, s.partitioned)
    };
    if partitioned {
        std::future::pending::<()>().await;
    }
    if unavailable {
        let status = status(503, "ServiceUnavailable", "the test API server is unavailable");
        return send_json(out, 503, &status).await;
    }
    let mcs_crd = state.lock().unwrap().mcs_crd;
    let served = |(resource, _): &(Resource, Option<String>)| resource != &Resource::ServiceImports || mcs_crd;
    let Some((resource, namespace)) = route(&request.path).filter(|_| request.method == "GET").filter(served) else {
        return send_json(out, 404, &status(404, "NotFound", "not served by the test API server")).await;
    };
    if request.query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        let streaming = request.query.get("sendInitialEvents").is_some_and(|s| s == "true");
        if streaming && !state.lock().unwrap().watch_list {
            let message = "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: \
                sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled";
            return send_json(out, 422, &status(422, "Invalid", message)).await;
        }
        watch(request, resource, namespace, out, state, changed).await;
        false
    } else {
        while state.lock().unwrap().hold_lists {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let body = list(request, resource, namespace.as_deref(), &state.lock().unwrap());
        send_json(out, 200, &body).await
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

async fn send_json(out: &mut (impl AsyncWrite + Unpin), code: u16, body: &Value) -> bool {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        if code == 200 { "OK" } else { "Error" },
        body.len()
    );
    out.write_all(head.as_bytes()).await.is_ok() && out.write_all(body.as_bytes()).await.is_ok()
}

/// Whether `object` is in `namespace` and matches the request's label and field selectors.
fn matches(object: &Value, namespace: Option<&str>, request: &Request) -> bool {
    if let Some(ns) = namespace
        && object.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns)
    {
        return false;
    }
    matches_labels(object, request.query.get("labelSelector"))
        && matches_fields(object, request.query.get("fieldSelector"))
}

/// `metadata.name` and `metadata.namespace` terms (`=`, `==`, `!=`), the fields every resource has.
fn matches_fields(object: &Value, selector: Option<&String>) -> bool {
    selector.is_none_or(|selector| {
        selector.split(',').filter(|t| !t.is_empty()).all(|term| {
            let (field, value, equal) = match term.split_once("!=") {
                Some((f, v)) => (f, v, false),
                None => {
                    let (f, v) = term.split_once('=').expect("a field selector term has an operator");
                    (f, v.trim_start_matches('='), true)
                }
            };
            let pointer = match field {
                "metadata.name" => "/metadata/name",
                "metadata.namespace" => "/metadata/namespace",
                other => panic!("the test API server does not select on the field {other}"),
            };
            (object.pointer(pointer).and_then(Value::as_str).unwrap_or("") == value) == equal
        })
    })
}

fn matches_labels(object: &Value, selector: Option<&String>) -> bool {
    let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector.is_none_or(|selector| {
        selector.split(',').filter(|t| !t.is_empty()).all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                label(k) != Some(v)
            } else if let Some((k, v)) = term.split_once('=') {
                label(k) == Some(v.trim_start_matches('='))
            } else if let Some(k) = term.strip_prefix('!') {
                label(k).is_none()
            } else {
                label(term).is_some()
            }
        })
    })
}

/// A page of the list; the continue token is the last key of the page.
fn list(request: &Request, resource: Resource, namespace: Option<&str>, state: &State) -> Value {
    let limit: usize = request.query.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
    // The continue token is "namespace/name" of the last item sent; keys compare as tuples.
    let after =
        request.query.get("continue").and_then(|t| t.split_once('/')).map(|(ns, n)| (ns.to_string(), n.to_string()));
    let mut items = Vec::new();
    let mut next = None;
    for ((r, ns, name), object) in &state.objects {
        let past = after.as_ref().is_none_or(|(a_ns, a_name)| (ns, name) > (a_ns, a_name));
        if *r != resource || !past || !matches(object, namespace, request) {
            continue;
        }
        if items.len() == limit {
            next = Some(prev_token(&items));
            break;
        }
        items.push(object.clone());
    }
    let (api_version, kind) = resource.list_kind();
    let mut metadata = json!({"resourceVersion": state.rv.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "items": items})
}

fn prev_token(items: &[Value]) -> String {
    let last = items.last().unwrap();
    let ns = last.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let name = last.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    format!("{ns}/{name}")
}

async fn watch(
    request: &Request,
    resource: Resource,
    namespace: Option<String>,
    out: &mut (impl AsyncWrite + Unpin),
    state: &Mutex<State>,
    changed: &Notify,
) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if out.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut cursor: u64 = request.query.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
    let timeout = request
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(Duration::from_secs(290), Duration::from_secs);
    let bookmarks = request.query.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let deadline = Instant::now() + timeout;
    // A streaming list: the current objects as ADDED events, then a bookmark marking their end.
    if request.query.get("sendInitialEvents").is_some_and(|s| s == "true") {
        let (initial, current) = {
            let s = state.lock().unwrap();
            let objects =
                s.objects.iter().filter(|((r, _, _), o)| *r == resource && matches(o, namespace.as_deref(), request));
            let events: Vec<Value> = objects.map(|(_, o)| json!({"type": "ADDED", "object": o})).collect();
            (events, s.rv)
        };
        let (api_version, kind) = resource.kind();
        let end = json!({"type": "BOOKMARK", "object": {"apiVersion": api_version, "kind": kind, "metadata": {
            "resourceVersion": current.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}}});
        for event in initial.iter().chain([&end]) {
            if send_chunk(out, event).await.is_err() {
                return;
            }
        }
        cursor = current;
    }
    let (generation, partitions) = {
        let s = state.lock().unwrap();
        (s.generation, s.partitions)
    };
    let mut last_sent = Instant::now();
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if state.lock().unwrap().partitions != partitions {
            std::future::pending::<()>().await;
        }
        let (events, cut, gone, current) = {
            let s = state.lock().unwrap();
            // Events up to oldest_watchable - 1 are forgotten: a cursor before that cannot resume.
            let gone = s.oldest_watchable > 0 && cursor + 1 < s.oldest_watchable;
            let events: Vec<Value> = s
                .history
                .iter()
                .filter(|e| {
                    e.rv > cursor && e.resource == resource && matches(&e.object, namespace.as_deref(), request)
                })
                .map(|e| json!({"type": e.kind, "object": e.object}))
                .collect();
            (events, s.generation != generation || s.unavailable, gone, s.rv)
        };
        if gone {
            let event = json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version")});
            let _ = send_chunk(out, &event).await;
            break;
        }
        for event in &events {
            if send_chunk(out, event).await.is_err() {
                return;
            }
            last_sent = Instant::now();
        }
        cursor = cursor.max(current);
        if cut || Instant::now() >= deadline {
            break;
        }
        if bookmarks && last_sent.elapsed() >= BOOKMARK_EVERY {
            let (api_version, kind) = resource.kind();
            let bookmark = json!({"type": "BOOKMARK", "object": {"apiVersion": api_version, "kind": kind,
                "metadata": {"resourceVersion": cursor.to_string()}}});
            if send_chunk(out, &bookmark).await.is_err() {
                return;
            }
            last_sent = Instant::now();
        }
        let _ = tokio::time::timeout(BOOKMARK_EVERY, notified).await;
    }
    let _ = out.write_all(b"0\r\n\r\n").await;
}

async fn send_chunk(out: &mut (impl AsyncWrite + Unpin), event: &Value) -> std::io::Result<()> {
    let line = format!("{event}\n");
    out.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes()).await
}
