//! The `sourceProperties` keys scrun writes, and their fixed values.

/// What scrun did: [`ACTION_ALLOWED`] or [`ACTION_BLOCKED`].
pub const ACTION: &str = "scrun_action";
/// Provenance of the executed file: `image`, `added`, `modified`, `memfd`, `other-mount`, ...
pub const PROVENANCE: &str = "scrun_provenance";
/// The lower layer the file came from: its index in the overlay's lowerdir list, top first
/// (`0` is the topmost lower: Docker's init layer, else the image's last layer).
pub const LAYER: &str = "scrun_layer";
/// That layer's diff ID (`sha256:…`, as `docker inspect` lists in `RootFS.Layers`), when the
/// engine's layer store records it (Docker overlay2, containers/storage).
pub const LAYER_DIGEST: &str = "scrun_layer_digest";
/// The threat feed that matched.
pub const FEED: &str = "scrun_feed";
/// The feed's label for the match (malware family, signature).
pub const FEED_LABEL: &str = "scrun_feed_label";
/// The scrun (OCI) container id; `scrun findings --container` matches a prefix of it.
pub const CONTAINER_ID: &str = "scrun_container_id";
/// The policy mode: `audit` or `enforce`.
pub const MODE: &str = "scrun_mode";
/// The trapped syscall: `execve` or `execveat`.
pub const SYSCALL: &str = "scrun_syscall";
/// GKE Container Threat Detection key: the container name.
pub const CONTAINER_NAME: &str = "Container_Name";
/// GKE Container Threat Detection key: the image URI.
pub const CONTAINER_IMAGE_URI: &str = "Container_Image_Uri";
/// The dynamic loader that ran the program (`ld.so ./bin`).
pub const LOADER: &str = "scrun_loader";
/// Where an added file lives: `upper-layer` (the container's writable layer) or `other-mount`.
pub const ADDED_ON: &str = "scrun_added_on";
/// Why the provenance is unknown (a rootfs that is not an overlay, ...).
pub const PROVENANCE_REASON: &str = "scrun_provenance_reason";
/// `true` when an image file was copied up (chmod, touch) without changing its content.
pub const COPIED_UP: &str = "scrun_copied_up";
/// `true` on a fileless-execution finding whose content a feed lists.
pub const MALICIOUS: &str = "scrun_malicious";
/// The engine that created the container (`docker`, `containerd`, `cri`, `podman`, ...).
pub const CALLER: &str = "scrun_caller";

/// Value of [`ACTION`] when the exec was allowed.
pub const ACTION_ALLOWED: &str = "ALLOWED";
/// Value of [`ACTION`] when the exec failed with EPERM.
pub const ACTION_BLOCKED: &str = "BLOCKED";
