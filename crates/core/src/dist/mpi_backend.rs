//! [`Collective`] over MPI (the `mpi` crate, on the system's Open MPI or
//! MPICH): one process per rank, started by `mpirun -np N` or `srun`.

use super::{Collective, DistError};
use mpi::collective::{Root, SystemOperation};
use mpi::topology::{Communicator, SimpleCommunicator};

/// MPI's world communicator; MPI is finalised when this is dropped.
pub struct Mpi {
    // declared before the universe: dropped (freed) before MPI is finalised
    world: SimpleCommunicator,
    _universe: mpi::environment::Universe,
}

impl Mpi {
    /// Initialises MPI (once per process).
    pub fn init() -> Result<Self, DistError> {
        let universe = mpi::initialize()
            .ok_or_else(|| DistError::Backend { backend: "mpi", reason: "MPI was already initialised in this process".into() })?;
        let world = universe.world();
        Ok(Mpi { world, _universe: universe })
    }

    /// Replaces `buf` on every rank by rank 0's bytes (how NCCL's unique id
    /// reaches the other ranks of an `mpirun` launch).
    pub fn broadcast_from_root(&self, buf: &mut [u8]) {
        self.world.process_at_rank(0).broadcast_into(buf);
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn world(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<(), DistError> {
        // a reduction to rank 0 and a broadcast of its result, not MPI_Allreduce:
        // the standard lets an all-reduce sum in a different order on each rank,
        // and the weights of every rank must stay bitwise equal
        let root = self.world.process_at_rank(0);
        if self.world.rank() == 0 {
            let mine = buf.to_vec();
            root.reduce_into_root(&mine[..], buf, SystemOperation::sum());
        } else {
            root.reduce_into(&buf[..], SystemOperation::sum());
        }
        root.broadcast_into(buf);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "mpi"
    }
}
