//! The TCP transport against the real python3 kernel from the tools venv:
//! what every non-Python kernel speaks, exercised where it is cheapest.

use std::path::PathBuf;
use std::time::Duration;

use clx_kernel::{Executor, Kernel, Wire};

fn venv() -> PathBuf {
    let venv = clx_plugin_api::tools_dir().unwrap_or_default().join("venv");
    assert!(venv.join("bin/python").exists(), "{} missing: run scripts/setup", venv.display());
    venv
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime")
}

#[test]
fn eight_kernels_started_at_once_over_tcp_all_answer() {
    let exec = Executor::new(&[venv()]).unwrap();
    let spec = exec.kernelspec("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let kernels = rt.block_on(async {
        let starts = (0..8).map(|_| {
            let (spec, dir) = (spec.clone(), dir.path().to_owned());
            tokio::spawn(async move { Kernel::start_with(&spec, &dir, Wire::Tcp).await })
        });
        let mut kernels = Vec::new();
        for start in starts.collect::<Vec<_>>() {
            kernels.push(start.await.expect("start task").expect("kernel starts over TCP"));
        }
        kernels
    });
    assert_eq!(kernels.len(), 8);
    let pids: std::collections::BTreeSet<i32> = kernels.iter().map(Kernel::pid).collect();
    assert_eq!(pids.len(), 8, "eight distinct kernel processes");
    rt.block_on(async {
        for (i, mut kernel) in kernels.into_iter().enumerate() {
            assert_eq!(kernel.wire(), Wire::Tcp);
            let run = kernel.execute(&format!("{i} * 2"), Duration::from_secs(60)).await.expect("cell runs");
            assert_eq!(run.outputs[0]["data"]["text/plain"], (i * 2).to_string(), "kernel {i} answered for itself");
            kernel.shutdown().await;
        }
    });
}

#[test]
fn a_kernel_without_ipc_support_is_reached_over_tcp_and_ipykernel_over_ipc() {
    let exec = Executor::new(&[venv()]).unwrap();
    let python = exec.kernelspec("python3").unwrap();
    assert_eq!(Wire::for_spec(&python), Wire::Ipc);
    let mut other = python.clone();
    other.spec.argv =
        vec!["deno".into(), "jupyter".into(), "--kernel".into(), "--conn".into(), "{connection_file}".into()];
    assert_eq!(Wire::for_spec(&other), Wire::Tcp);
}

#[test]
fn a_cell_timeout_over_tcp_interrupts_and_stops_the_kernel() {
    let exec = Executor::new(&[venv()]).unwrap();
    let spec = exec.kernelspec("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut kernel = Kernel::start_with(&spec, dir.path(), Wire::Tcp).await.unwrap();
        let pid = kernel.pid();
        let err = kernel.execute("import time\ntime.sleep(60)", Duration::from_secs(1)).await.unwrap_err();
        assert!(matches!(err, clx_kernel::KernelError::CellTimeout { secs: 1 }), "{err}");
        kernel.shutdown().await;
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "kernel {pid} is gone");
    });
}
