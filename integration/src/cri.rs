//! A small blocking CRI (`runtime.v1`) client over containerd's unix socket, enough to drive a
//! pod the way the kubelet does: RunPodSandbox, CreateContainer, StartContainer, ExecSync,
//! Stop/Remove. Every call has a deadline.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{Error, Result};

/// Seconds one CRI call may take.
pub const CRI_TIMEOUT: u64 = 90;

/// A connected CRI client.
#[derive(Debug)]
pub struct CriClient {
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

/// What a pod needs to be referred to again.
#[derive(Clone, Debug)]
pub struct Pod {
    /// The sandbox ID containerd assigned.
    pub id: String,
    /// The config it was created with (CreateContainer needs it again).
    pub config: cri::PodSandboxConfig,
}

impl CriClient {
    /// Connect to the CRI endpoint at `sock`.
    pub fn connect(sock: &Path) -> Result<CriClient> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Cri {
                call: "connect",
                reason: format!("tokio runtime: {e}"),
            })?;
        let path: PathBuf = sock.to_path_buf();
        let channel = rt.block_on(async {
            let endpoint = Endpoint::try_from("http://[::]:50051")
                .map_err(|e| Error::Cri {
                    call: "connect",
                    reason: e.to_string(),
                })?
                .connect_timeout(Duration::from_secs(10));
            endpoint
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await
                .map_err(|e| Error::Cri {
                    call: "connect",
                    reason: format!("{}: {e}", sock.display()),
                })
        })?;
        Ok(CriClient {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }

    fn call<T, F>(&self, call: &'static str, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        self.rt.block_on(async {
            match tokio::time::timeout(Duration::from_secs(CRI_TIMEOUT), fut).await {
                Ok(Ok(resp)) => Ok(resp.into_inner()),
                Ok(Err(status)) => Err(Error::Cri {
                    call,
                    reason: format!("{}: {}", status.code(), status.message()),
                }),
                Err(_) => Err(Error::Cri {
                    call,
                    reason: format!("no answer within {CRI_TIMEOUT} s"),
                }),
            }
        })
    }

    /// `Version`: the runtime name and version containerd reports.
    pub fn version(&self) -> Result<String> {
        let mut c = self.runtime.clone();
        let v = self.call(
            "Version",
            c.version(cri::VersionRequest {
                version: "v1".into(),
            }),
        )?;
        Ok(format!("{} {}", v.runtime_name, v.runtime_version))
    }

    /// Whether the image service knows `image`.
    pub fn has_image(&self, image: &str) -> Result<bool> {
        let mut c = self.images.clone();
        let req = cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            verbose: false,
        };
        Ok(self
            .call("ImageStatus", c.image_status(req))?
            .image
            .is_some())
    }

    /// RunPodSandbox with the host network (no hostname, as the kubelet does for hostNetwork
    /// pods) under `handler`.
    pub fn run_pod(&self, name: &str, handler: &str) -> Result<Pod> {
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "default".into(),
                attempt: 0,
            }),
            linux: Some(cri::LinuxPodSandboxConfig {
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network: cri::NamespaceMode::Node as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut c = self.runtime.clone();
        let req = cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        };
        let id = self
            .call("RunPodSandbox", c.run_pod_sandbox(req))?
            .pod_sandbox_id;
        Ok(Pod { id, config })
    }

    /// CreateContainer `name` from `image` running `command` in `pod`.
    pub fn create_container(
        &self,
        pod: &Pod,
        name: &str,
        image: &str,
        command: &[&str],
    ) -> Result<String> {
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            command: command.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mut c = self.runtime.clone();
        let req = cri::CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod.config.clone()),
        };
        Ok(self
            .call("CreateContainer", c.create_container(req))?
            .container_id)
    }

    /// StartContainer.
    pub fn start_container(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "StartContainer",
            c.start_container(cri::StartContainerRequest {
                container_id: id.into(),
            }),
        )
        .map(drop)
    }

    /// ExecSync: (exit code, stdout, stderr).
    pub fn exec_sync(
        &self,
        id: &str,
        cmd: &[&str],
        timeout_secs: i64,
    ) -> Result<(i32, String, String)> {
        let mut c = self.runtime.clone();
        let req = cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: timeout_secs,
        };
        let r = self.call("ExecSync", c.exec_sync(req))?;
        Ok((
            r.exit_code,
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        ))
    }

    /// The container's state name (`CONTAINER_RUNNING`, `CONTAINER_EXITED`, …).
    pub fn container_state(&self, id: &str) -> Result<String> {
        let mut c = self.runtime.clone();
        let req = cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        };
        let status = self
            .call("ContainerStatus", c.container_status(req))?
            .status;
        Ok(status
            .and_then(|s| cri::ContainerState::try_from(s.state).ok())
            .map(|s| s.as_str_name().to_string())
            .unwrap_or_default())
    }

    /// StopContainer with a grace period, then RemoveContainer.
    pub fn stop_and_remove_container(&self, id: &str, grace_secs: i64) -> Result<()> {
        let mut c = self.runtime.clone();
        let stop = cri::StopContainerRequest {
            container_id: id.into(),
            timeout: grace_secs,
        };
        self.call("StopContainer", c.stop_container(stop))?;
        let mut c = self.runtime.clone();
        self.call(
            "RemoveContainer",
            c.remove_container(cri::RemoveContainerRequest {
                container_id: id.into(),
            }),
        )
        .map(drop)
    }

    /// StopPodSandbox, then RemovePodSandbox.
    pub fn stop_and_remove_pod(&self, pod_id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "StopPodSandbox",
            c.stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod_id.into(),
            }),
        )?;
        let mut c = self.runtime.clone();
        let req = cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod_id.into(),
        };
        self.call("RemovePodSandbox", c.remove_pod_sandbox(req))
            .map(drop)
    }
}
