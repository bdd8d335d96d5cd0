//! Data-parallel workers: which process this is among how many (from the
//! launcher's environment: `mpirun`, `srun`, `torchrun`), and the collectives
//! that keep their weights equal, behind one small trait.
//!
//! Implementations: [`SingleProcess`] (the default; no dependency at run time)
//! and, with the cargo feature `mpi`, `Mpi` over the system's Open MPI or MPICH.
//! No collective is written here: MPI (or NCCL) does the communication.

#[cfg(feature = "mpi")]
mod mpi_backend;

#[cfg(feature = "mpi")]
pub use mpi_backend::Mpi;

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
    /// The implementation, for logs: `single`, `mpi`.
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
    let parse = |name: &str, value: String| {
        value.trim().parse::<usize>().map_err(|_| DistError::Launcher(format!("environment variable {name}={value:?} is not a number")))
    };
    for (launcher, r, w) in LAUNCHERS {
        if let (Some(rv), Some(wv)) = (env(r), env(w)) {
            let (rank, world) = (parse(r, rv)?, parse(w, wv)?);
            if world == 0 || rank >= world {
                return Err(DistError::Launcher(format!("{r} = {rank} is not below {w} = {world}")));
            }
            return Ok(Some((launcher, rank, world)));
        }
    }
    Ok(None)
}

/// The collective for this process: [`SingleProcess`] when no launcher started
/// more than one, MPI under `mpirun`/`srun` (feature `mpi`). A multi-process
/// launch this build cannot serve is an error, never a silent single run.
pub fn from_environment() -> Result<Box<dyn Collective>, DistError> {
    match launched(|name| std::env::var(name).ok())? {
        None | Some((_, _, 1)) => Ok(Box::new(SingleProcess)),
        Some((Launcher::Mpi | Launcher::Slurm, _, world)) => mpi_collective(world),
        Some((Launcher::Torchrun, _, world)) => Err(DistError::Unsupported(format!(
            "started with WORLD_SIZE = {world} (torchrun-style): data-parallel pretraining runs under `mpirun -np {world}` or `srun` \
             (a build with `--features mpi`)"
        ))),
    }
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
    fn a_single_process_reduces_to_itself() {
        let mut buf = [1.0, -2.5];
        SingleProcess.all_reduce_sum(&mut buf).unwrap();
        assert_eq!(buf, [1.0, -2.5]);
        assert_eq!((SingleProcess.rank(), SingleProcess.world()), (0, 1));
    }
}
