//! Finding the Kubernetes API: the service-account environment inside a pod, a kubeconfig
//! outside. The API server's address never goes through DNS: we are the DNS.

use std::path::PathBuf;

use kube::config::{Config, KubeConfigOptions, Kubeconfig};

/// The service-account environment a pod gets.
const SERVICE_HOST_ENV: &str = "KUBERNETES_SERVICE_HOST";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("--kubeconfig {path}: {source}")]
    Kubeconfig { path: PathBuf, source: kube::config::KubeconfigError },
    #[error("in-cluster configuration ({SERVICE_HOST_ENV} is set): {0}")]
    InCluster(kube::config::InClusterError),
    #[error("{0}")]
    Default(kube::config::KubeconfigError),
    #[error(
        "no data source: give --manifests PATH, or run in a pod (service account), or give --kubeconfig PATH \
         (tried: {SERVICE_HOST_ENV} is not set; {tried})"
    )]
    Nothing { tried: String },
}

/// Where to find the API, in order: `--kubeconfig`, the pod's service account, then
/// `$KUBECONFIG` or `~/.kube/config`.
pub async fn api_config(kubeconfig: Option<PathBuf>, context: Option<String>) -> Result<Config, ConnectError> {
    let options = KubeConfigOptions { context, ..KubeConfigOptions::default() };
    if let Some(path) = kubeconfig {
        let file =
            Kubeconfig::read_from(&path).map_err(|source| ConnectError::Kubeconfig { path: path.clone(), source })?;
        return Config::from_custom_kubeconfig(file, &options)
            .await
            .map_err(|source| ConnectError::Kubeconfig { path, source });
    }
    // `incluster_env` reads KUBERNETES_SERVICE_HOST/PORT; `incluster_dns` would need DNS.
    if std::env::var_os(SERVICE_HOST_ENV).is_some() {
        return Config::incluster_env().map_err(ConnectError::InCluster);
    }
    let default_path = std::env::var_os("KUBECONFIG").map(PathBuf::from).or_else(home_kubeconfig);
    match default_path {
        Some(path) if path.exists() || std::env::var_os("KUBECONFIG").is_some() => {
            Config::from_kubeconfig(&options).await.map_err(ConnectError::Default)
        }
        _ => {
            let tried = match home_kubeconfig() {
                Some(home) => format!("KUBECONFIG is not set; {} does not exist", home.display()),
                None => "KUBECONFIG is not set; HOME is not set".to_string(),
            };
            Err(ConnectError::Nothing { tried })
        }
    }
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("config"))
}
