//! How the app's own process draws: without a GL driver.
//!
//! The desk is a page of text and tables. WebKit's web process draws it (on
//! the GPU where there is one) and hands the app's process finished pixels
//! to show. Left alone, the app's process loads the GL driver twice over
//! without ever drawing with it: GDK probes GLX when it opens the display,
//! and WebKit opens an EGL display only to learn the GPU's render node. With
//! Debian's Mesa that driver brings LLVM along, about 20 MiB of the app's
//! idle memory (measured under Xvfb with llvmpipe; a GPU's Mesa driver is the
//! same LLVM-linked file).
//!
//! So, before GTK starts, in an X11 session, and only where the clinic's IT
//! has not set them:
//! - `GDK_GL=disable`: the app uses no GL widget;
//! - `WEBKIT_DISABLE_DMABUF_RENDERER=1`: pixels come over shared memory, not
//!   as GPU buffers the app's process would import with GL (also the usual
//!   cure for WebKit's blank windows on some GPU drivers);
//! - `WEBKIT_WEB_RENDER_DEVICE_FILE`: the render node, found in `/dev/dri`
//!   instead of through EGL; `/dev/null` where the PC has none (software
//!   rendering, where EGL would have answered "none" too).
//!
//! A Wayland session is left as it is: there GDK opens no GL at start, and
//! WebKit's way of showing the web process's pixels needs GL in the app's
//! process anyway.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What a PC without a GPU render node is told its node is: a file that is
/// not a GPU, so nothing opens a driver for it.
const NO_RENDER_NODE: &str = "/dev/null";

/// Whether GTK will run on Wayland: a Wayland session or display is there
/// and GTK is not told to use X11.
fn wayland(current: &impl Fn(&str) -> Option<OsString>) -> bool {
    let has = |k: &str| current(k).is_some_and(|v| !v.is_empty());
    let session = current("XDG_SESSION_TYPE").is_some_and(|v| v == "wayland");
    let backend = current("GDK_BACKEND").unwrap_or_default();
    (has("WAYLAND_DISPLAY") || session) && !backend.to_string_lossy().starts_with("x11")
}

/// The environment variables to set before GTK starts, given the ones already
/// set (`current`) and the PC's GPU render nodes. A variable already set is
/// left as it is; on Wayland nothing is set.
pub fn environment(
    current: impl Fn(&str) -> Option<OsString>,
    render_nodes: &[PathBuf],
) -> Vec<(&'static str, OsString)> {
    let mut set = Vec::new();
    if wayland(&current) {
        return set;
    }
    if current("GDK_GL").is_none() {
        set.push(("GDK_GL", OsString::from("disable")));
    }
    let dmabuf_chosen = current("WEBKIT_DISABLE_DMABUF_RENDERER").is_some()
        || current("WEBKIT_FORCE_DMABUF_RENDERER").is_some();
    if !dmabuf_chosen {
        set.push(("WEBKIT_DISABLE_DMABUF_RENDERER", OsString::from("1")));
    }
    if current("WEBKIT_WEB_RENDER_DEVICE_FILE").is_none_or(|v| v.is_empty()) {
        let node = render_nodes
            .first()
            .map_or_else(|| OsString::from(NO_RENDER_NODE), |p| p.clone().into());
        set.push(("WEBKIT_WEB_RENDER_DEVICE_FILE", node));
    }
    set
}

/// The PC's GPU render nodes (`/dev/dri/renderD128`, …), lowest first; none
/// when the directory is missing, as on a PC or VM without a GPU.
pub fn render_nodes(dri: &Path) -> Vec<PathBuf> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dri)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("renderD"))
                })
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// Sets [`environment`] for this process. Called first thing in `main`,
/// while the process has one thread: nothing else reads the environment
/// concurrently.
pub fn configure() {
    let set = environment(
        |k| std::env::var_os(k),
        &render_nodes(Path::new("/dev/dri")),
    );
    for (key, value) in set {
        // SAFETY: called at the start of `main`, before any other thread
        // exists (see the function's documentation), so no other thread can
        // read or write the environment at the same time.
        unsafe { std::env::set_var(key, value) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn value<'a>(set: &'a [(&str, OsString)], key: &str) -> Option<&'a OsString> {
        set.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    #[test]
    fn a_pc_without_a_gpu_gets_no_gl_in_the_app_process_and_no_render_node() {
        let set = environment(env(&[]), &[]);
        assert_eq!(value(&set, "GDK_GL").unwrap(), "disable");
        assert_eq!(value(&set, "WEBKIT_DISABLE_DMABUF_RENDERER").unwrap(), "1");
        assert_eq!(
            value(&set, "WEBKIT_WEB_RENDER_DEVICE_FILE").unwrap(),
            NO_RENDER_NODE
        );
    }

    #[test]
    fn a_pc_with_a_gpu_is_given_its_first_render_node() {
        let nodes = [
            PathBuf::from("/dev/dri/renderD128"),
            PathBuf::from("/dev/dri/renderD129"),
        ];
        let set = environment(env(&[]), &nodes);
        assert_eq!(
            value(&set, "WEBKIT_WEB_RENDER_DEVICE_FILE").unwrap(),
            "/dev/dri/renderD128"
        );
    }

    #[test]
    fn what_the_clinics_it_has_set_is_kept() {
        let set = environment(
            env(&[
                ("GDK_GL", "gles"),
                ("WEBKIT_FORCE_DMABUF_RENDERER", "1"),
                ("WEBKIT_WEB_RENDER_DEVICE_FILE", "/dev/dri/renderD129"),
            ]),
            &[PathBuf::from("/dev/dri/renderD128")],
        );
        assert!(set.is_empty(), "{set:?}");
        let set = environment(env(&[("WEBKIT_DISABLE_DMABUF_RENDERER", "0")]), &[]);
        assert_eq!(value(&set, "WEBKIT_DISABLE_DMABUF_RENDERER"), None);
    }

    #[test]
    fn a_wayland_session_is_left_alone_unless_gtk_is_told_to_use_x11() {
        assert!(environment(env(&[("WAYLAND_DISPLAY", "wayland-0")]), &[]).is_empty());
        let x11 = environment(
            env(&[("WAYLAND_DISPLAY", "wayland-0"), ("GDK_BACKEND", "x11")]),
            &[],
        );
        assert_eq!(value(&x11, "GDK_GL").unwrap(), "disable");
        let empty = environment(env(&[("WAYLAND_DISPLAY", "")]), &[]);
        assert_eq!(value(&empty, "GDK_GL").unwrap(), "disable");
        // GTK finds the session's display even when the variable is missing.
        assert!(environment(env(&[("XDG_SESSION_TYPE", "wayland")]), &[]).is_empty());
        let x11_session = environment(env(&[("XDG_SESSION_TYPE", "x11")]), &[]);
        assert_eq!(value(&x11_session, "GDK_GL").unwrap(), "disable");
    }

    #[test]
    fn an_empty_render_node_setting_counts_as_unset() {
        // WebKit ignores an empty value and would look the node up with EGL.
        let set = environment(env(&[("WEBKIT_WEB_RENDER_DEVICE_FILE", "")]), &[]);
        assert_eq!(
            value(&set, "WEBKIT_WEB_RENDER_DEVICE_FILE").unwrap(),
            NO_RENDER_NODE
        );
    }

    #[test]
    fn render_nodes_are_the_render_files_of_the_directory_lowest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["renderD129", "card0", "renderD128", "by-path"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(
            render_nodes(dir.path()),
            vec![dir.path().join("renderD128"), dir.path().join("renderD129")]
        );
        assert!(render_nodes(&dir.path().join("missing")).is_empty());
    }
}
