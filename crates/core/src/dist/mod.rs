//! Data-parallel workers: which process this is among how many (from the
//! launcher's environment: `mpirun`, `srun`, `torchrun`), and the collectives
//! that keep their weights equal, behind one small trait.
//!
//! Implementations: [`SingleProcess`] (the default; no dependency at run time);
//! with the cargo feature `mpi`, `Mpi` over the system's Open MPI or MPICH (CPU
//! ranks); with `nccl`, `Nccl` over NVIDIA's NCCL (one CUDA device per rank).
//! No collective is written here: MPI or NCCL does the communication.
//!
//! Imports `dataset/` (atomic file writes).

#[cfg(feature = "mpi")]
mod mpi_backend;
#[cfg(feature = "nccl")]
mod nccl_backend;
mod rendezvous;

#[cfg(feature = "mpi")]
pub use mpi_backend::Mpi;
#[cfg(feature = "nccl")]
pub use nccl_backend::Nccl;
pub use rendezvous::FileRendezvous;

use candle_core::{Device, Tensor};
use std::path::Path;

/// What can go wrong in setting up or running collectives.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The launcher's environment is inconsistent.
    #[error("launcher environment: {0}")]
    Launcher(String),
    /// A launch this build cannot serve (a backend compiled out).
    #[error("{0}")]
    Unsupported(String),
    /// The communication library failed.
    #[error("{backend}: {reason}")]
    Backend {
        /// `mpi` or `nccl`.
        backend: &'static str,
        /// What it said.
        reason: String,
    },
    /// Packing or unpacking a tensor for a collective failed.
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// The collectives data-parallel training needs. Every rank calls each one in
/// the same order; a rank that dies makes the launcher end the others.
pub trait Collective {
    /// This process's rank, `0..world()`.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn world(&self) -> usize;
    /// Replaces `buf` on every rank by its elementwise sum over all ranks. The
    /// result is bitwise the same on every rank (so weights stay identical).
    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<(), DistError>;
    /// [`Collective::all_reduce_sum`] of an `f32` tensor, flattened, on its
    /// own device. By default it goes through host memory; NCCL keeps it in
    /// device memory.
    fn all_reduce_sum_tensor(&self, xs: &Tensor) -> Result<Tensor, DistError> {
        let mut buf = xs.flatten_all()?.to_vec1::<f32>()?;
        self.all_reduce_sum(&mut buf)?;
        Ok(Tensor::from_vec(buf, xs.elem_count(), xs.device())?)
    }
    /// The implementation, for logs: `single`, `mpi`, `nccl`.
    fn name(&self) -> &'static str;
}

/// One process: every collective is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn world(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _buf: &mut [f32]) -> Result<(), DistError> {
        Ok(())
    }
    fn name(&self) -> &'static str {
        "single"
    }
}

/// The launcher that started this process, read from its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// Open MPI's or MPICH's `mpirun`/`mpiexec` (`OMPI_COMM_WORLD_*`, `PMI_*`).
    Mpi,
    /// Slurm's `srun` (`SLURM_PROCID`, `SLURM_NTASKS`).
    Slurm,
    /// `torchrun` and other launchers that set `RANK`/`WORLD_SIZE`.
    Torchrun,
}

/// This process's rank and world size as its launcher set them, or `None`
/// when no launcher did. `env` reads a variable (tests pass a map).
pub fn launched(env: impl Fn(&str) -> Option<String>) -> Result<Option<(Launcher, usize, usize)>, DistError> {
    const LAUNCHERS: [(Launcher, &str, &str); 5] = [
        (Launcher::Torchrun, "RANK", "WORLD_SIZE"),
        (Launcher::Mpi, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        (Launcher::Mpi, "PMI_RANK", "PMI_SIZE"),
        (Launcher::Slurm, "SLURM_PROCID", "SLURM_NTASKS"),
        (Launcher::Mpi, "PMIX_RANK", "PMIX_SIZE"),
    ];
    for (launcher, r, w) in LAUNCHERS {
        if let (Some(rv), Some(wv)) = (env(r), env(w)) {
            let (rank, world) = (env_number(r, &rv)?, env_number(w, &wv)?);
            if world == 0 || rank >= world {
                return Err(DistError::Launcher(format!("{r} = {rank} is not below {w} = {world}")));
            }
            return Ok(Some((launcher, rank, world)));
        }
    }
    Ok(None)
}

/// The number a launcher's variable `name` holds.
fn env_number(name: &str, value: &str) -> Result<usize, DistError> {
    value.trim().parse().map_err(|_| DistError::Launcher(format!("environment variable {name}={value:?} is not a number")))
}

/// This process's rank among those on its node, as the launcher set it
/// (`LOCAL_RANK`, Open MPI's, MPICH's or Slurm's), or `None`.
pub fn local_rank(env: impl Fn(&str) -> Option<String>) -> Result<Option<usize>, DistError> {
    for name in ["LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"] {
        if let Some(value) = env(name) {
            return env_number(name, &value).map(Some);
        }
    }
    Ok(None)
}

/// The device a rank opens for `--device name`: a bare `cuda` becomes
/// `cuda:<local rank>` under a launcher, so that the ranks of a node each take
/// their own GPU; `cpu` and an explicit `cuda:N` stay as they are.
pub fn rank_device_name(name: &str, env: impl Fn(&str) -> Option<String>) -> Result<String, DistError> {
    Ok(match (name, local_rank(env)?) {
        ("cuda", Some(local)) => format!("cuda:{local}"),
        _ => name.to_string(),
    })
}

/// The collective for this process: [`SingleProcess`] when no launcher started
/// more than one; on a CUDA `device`, NCCL (feature `nccl`), its unique id
/// shared over MPI under `mpirun`/`srun` (feature `mpi`) or else through a
/// [`FileRendezvous`] at `rendezvous` (which every rank must see); on the CPU,
/// MPI under `mpirun`/`srun` (feature `mpi`). A multi-process launch this build
/// cannot serve is an error, never a silent single run.
pub fn from_environment(device: &Device, rendezvous: &Path) -> Result<Box<dyn Collective>, DistError> {
    let env = |name: &str| std::env::var(name).ok();
    match launched(env)? {
        None | Some((_, _, 1)) => Ok(Box::new(SingleProcess)),
        Some((launcher, rank, world)) if device.is_cuda() => nccl_collective(launcher, rank, world, device, rendezvous),
        Some((Launcher::Mpi | Launcher::Slurm, _, world)) => mpi_collective(world),
        Some((Launcher::Torchrun, _, world)) => Err(DistError::Unsupported(format!(
            "started with WORLD_SIZE = {world} (torchrun-style) on the CPU: CPU ranks run under `mpirun -np {world}` or `srun` \
             (a build with `--features mpi`); torchrun serves CUDA ranks (`--device cuda`, a build with `--features cuda,nccl`)"
        ))),
    }
}

#[cfg(feature = "nccl")]
fn nccl_collective(
    launcher: Launcher,
    rank: usize,
    world: usize,
    device: &Device,
    rendezvous: &Path,
) -> Result<Box<dyn Collective>, DistError> {
    let started = std::time::SystemTime::now();
    #[cfg(feature = "mpi")]
    if matches!(launcher, Launcher::Mpi | Launcher::Slurm) {
        // MPI carries the id, and is finalised once it has
        let mut id = if rank == 0 { Nccl::unique_id()? } else { [0; nccl_backend::ID_BYTES] };
        Mpi::init()?.broadcast_from_root(&mut id);
        return Ok(Box::new(Nccl::init(device, rank, world, &id)?));
    }
    let _ = launcher;
    let rendezvous = FileRendezvous::from_environment(rendezvous, |name| std::env::var(name).ok())?;
    if rank == 0 {
        let id = Nccl::unique_id()?;
        rendezvous.publish(&id)?;
        // joining blocks until every rank has: then all of them have read the file
        let nccl = Nccl::init(device, rank, world, &id);
        rendezvous.remove();
        Ok(Box::new(nccl?))
    } else {
        let id = rendezvous.wait(started)?;
        Ok(Box::new(Nccl::init(device, rank, world, &id)?))
    }
}

#[cfg(not(feature = "nccl"))]
fn nccl_collective(
    _launcher: Launcher,
    _rank: usize,
    world: usize,
    _device: &Device,
    _rendezvous: &Path,
) -> Result<Box<dyn Collective>, DistError> {
    Err(DistError::Unsupported(format!(
        "started with {world} ranks on CUDA devices, but this lastmile was built without NCCL: rebuild with \
         `--features cuda,nccl` (README, \"Data-parallel pretraining\")"
    )))
}

#[cfg(feature = "mpi")]
fn mpi_collective(world: usize) -> Result<Box<dyn Collective>, DistError> {
    let mpi = Mpi::init()?;
    if mpi.world() != world {
        return Err(DistError::Launcher(format!("the launcher says {world} processes, MPI's world has {}", mpi.world())));
    }
    Ok(Box::new(mpi))
}

#[cfg(not(feature = "mpi"))]
fn mpi_collective(world: usize) -> Result<Box<dyn Collective>, DistError> {
    Err(DistError::Unsupported(format!(
        "started by mpirun/srun with {world} processes, but this lastmile was built without MPI: rebuild with `--features mpi` \
         (needs Open MPI or MPICH and libclang: README, \"Data-parallel pretraining\")"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        move |name| map.get(name).map(|v| v.to_string())
    }

    #[test]
    fn launchers_are_read_from_their_environment() {
        assert_eq!(launched(env(&[])).unwrap(), None);
        assert_eq!(launched(env(&[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2")])).unwrap(), Some((Launcher::Mpi, 1, 2)));
        assert_eq!(launched(env(&[("SLURM_PROCID", "3"), ("SLURM_NTASKS", "8")])).unwrap(), Some((Launcher::Slurm, 3, 8)));
        assert_eq!(launched(env(&[("RANK", "0"), ("WORLD_SIZE", "4")])).unwrap(), Some((Launcher::Torchrun, 0, 4)));
        assert!(launched(env(&[("RANK", "4"), ("WORLD_SIZE", "4")])).unwrap_err().to_string().contains("not below"));
        assert!(launched(env(&[("PMI_RANK", "x"), ("PMI_SIZE", "2")])).unwrap_err().to_string().contains("PMI_RANK"));
    }

    #[test]
    fn each_rank_of_a_node_takes_its_own_gpu() {
        assert_eq!(rank_device_name("cuda", env(&[("LOCAL_RANK", "3")])).unwrap(), "cuda:3");
        assert_eq!(rank_device_name("cuda", env(&[("OMPI_COMM_WORLD_LOCAL_RANK", "1")])).unwrap(), "cuda:1");
        assert_eq!(rank_device_name("cuda", env(&[("SLURM_LOCALID", "2")])).unwrap(), "cuda:2");
        assert_eq!(rank_device_name("cuda", env(&[])).unwrap(), "cuda");
        assert_eq!(rank_device_name("cuda:5", env(&[("LOCAL_RANK", "3")])).unwrap(), "cuda:5");
        assert_eq!(rank_device_name("cpu", env(&[("LOCAL_RANK", "3")])).unwrap(), "cpu");
        assert!(rank_device_name("cuda", env(&[("LOCAL_RANK", "one")])).unwrap_err().to_string().contains("LOCAL_RANK"));
    }

    #[test]
    fn the_default_tensor_reduction_goes_through_the_host_buffer() {
        // a collective that doubles (as two ranks holding the same values would)
        struct Doubling;
        impl Collective for Doubling {
            fn rank(&self) -> usize {
                0
            }
            fn world(&self) -> usize {
                2
            }
            fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<(), DistError> {
                buf.iter_mut().for_each(|x| *x *= 2.0);
                Ok(())
            }
            fn name(&self) -> &'static str {
                "doubling"
            }
        }
        let xs = Tensor::new(&[[1f32, 2.0], [3.0, -4.0]], &Device::Cpu).unwrap();
        let summed = Doubling.all_reduce_sum_tensor(&xs).unwrap();
        assert_eq!(summed.to_vec1::<f32>().unwrap(), [2.0, 4.0, 6.0, -8.0]);
    }

    #[test]
    #[cfg(not(feature = "nccl"))]
    fn a_cuda_launch_without_nccl_is_an_error_that_says_how_to_build() {
        let err = nccl_collective(Launcher::Torchrun, 0, 2, &Device::Cpu, Path::new("x")).err().unwrap();
        assert!(err.to_string().contains("--features cuda,nccl"), "{err}");
    }

    #[test]
    fn a_single_process_reduces_to_itself() {
        let mut buf = [1.0, -2.5];
        SingleProcess.all_reduce_sum(&mut buf).unwrap();
        assert_eq!(buf, [1.0, -2.5]);
        assert_eq!((SingleProcess.rank(), SingleProcess.world()), (0, 1));
    }
}
