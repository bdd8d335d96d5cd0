//! [`Collective`] over NCCL on CUDA devices (cudarc's bindings, the ones candle
//! itself uses): one process per GPU, started by `mpirun`, `srun` or
//! `torchrun`. Rank 0 draws the communicator's unique id; it reaches the other
//! ranks over MPI or through a [`super::FileRendezvous`].

use super::{Collective, DistError};
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use candle_core::cuda_backend::cudarc::nccl::safe::{Comm, Id, ReduceOp};
use candle_core::{CudaDevice, CudaStorage, Device, Storage, Tensor};
use std::sync::Arc;

/// The size of NCCL's unique id, the token rank 0 shares.
pub const ID_BYTES: usize = 128;

/// An NCCL communicator over one CUDA device per rank.
pub struct Nccl {
    comm: Comm,
    device: CudaDevice,
    stream: Arc<CudaStream>,
}

fn nccl_error(reason: impl std::fmt::Debug) -> DistError {
    DistError::Backend { backend: "nccl", reason: format!("{reason:?}") }
}

impl Nccl {
    /// A fresh unique id (rank 0 draws it and shares it with the others).
    pub fn unique_id() -> Result<[u8; ID_BYTES], DistError> {
        let id = Id::new().map_err(nccl_error)?;
        Ok(id.internal().map(|c| c as u8))
    }

    /// Joins the communicator `id` as `rank` of `world` on `device` (a CUDA
    /// device; each rank its own). Blocks until every rank has joined.
    pub fn init(device: &Device, rank: usize, world: usize, id: &[u8]) -> Result<Self, DistError> {
        let Device::Cuda(device) = device else {
            return Err(DistError::Unsupported(format!("NCCL needs a CUDA device, not {device:?}: pass `--device cuda`")));
        };
        let internal: [std::ffi::c_char; ID_BYTES] = id
            .try_into()
            .map(|bytes: [u8; ID_BYTES]| bytes.map(|b| b as std::ffi::c_char))
            .map_err(|_| nccl_error(format!("a unique id has {ID_BYTES} bytes, this one {}", id.len())))?;
        let stream = device.cuda_stream();
        let comm = Comm::from_rank(stream.clone(), rank, world, Id::uninit(internal)).map_err(nccl_error)?;
        Ok(Nccl { comm, device: device.clone(), stream })
    }

    /// The sum over ranks of `send`, in a fresh buffer: a reduction to rank 0
    /// and a broadcast of its result, not `ncclAllReduce`, so that every rank
    /// holds the same bits whatever algorithm NCCL picks (as the MPI backend).
    fn sum(&self, send: &impl DevicePtr<f32>) -> Result<CudaSlice<f32>, DistError> {
        let mut summed = self.stream.alloc_zeros::<f32>(send.len()).map_err(nccl_error)?;
        let root = self.comm.rank() == 0;
        self.comm.reduce(send, root.then_some(&mut summed), &ReduceOp::Sum, 0).map_err(nccl_error)?;
        self.comm.broadcast_in_place(&mut summed, 0).map_err(nccl_error)?;
        Ok(summed)
    }
}

impl Collective for Nccl {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world(&self) -> usize {
        self.comm.world_size()
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<(), DistError> {
        let send = self.stream.clone_htod(buf).map_err(nccl_error)?;
        let summed = self.sum(&send)?;
        self.stream.memcpy_dtoh(&summed, buf).map_err(nccl_error)?;
        self.stream.synchronize().map_err(nccl_error)
    }

    fn all_reduce_sum_tensor(&self, xs: &Tensor) -> Result<Tensor, DistError> {
        // the gradients stay in device memory: no copy through the host
        let xs = xs.flatten_all()?.contiguous()?;
        let (storage, layout) = xs.storage_and_layout();
        let Storage::Cuda(storage) = &*storage else {
            return Err(DistError::Unsupported("NCCL reduces CUDA tensors only".into()));
        };
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| nccl_error("a non-contiguous buffer"))?;
        let summed = self.sum(&storage.as_cuda_slice::<f32>()?.slice(start..end))?;
        let storage = Storage::Cuda(CudaStorage::wrap_cuda_slice(summed, self.device.clone()));
        Ok(Tensor::from_storage(storage, xs.shape(), candle_core::op::BackpropOp::none(), false))
    }

    fn name(&self) -> &'static str {
        "nccl"
    }
}
