//! Datasets on disk: Parquet schemas, sharded writers and readers, and atomic
//! file operations. Every stage that writes Parquet goes through here, so shards
//! look the same everywhere: zstd, bounded row groups, `split-00000-of-0000N`.
//! The rules every dataset obeys live here too, so that mining and each pair
//! generator apply them alike: normalisation, decontamination against the
//! benchmarks, and the hash split.
//!
//! Imports `lang` (sketches for decontamination).

mod atomic;
mod bench;
mod columns;
mod corpus;
mod decontaminate;
mod error;
mod footer_schema;
mod json_path;
mod literal_slots;
mod manifest;
mod nl2code;
mod normalize;
mod page_sizes;
mod pairs;
mod repairs;
mod retrieval;
mod shards;
mod split;
mod thrift_compact;
mod verify;

pub use atomic::{replace_dir, staging_dir, write_file_atomic};
pub use bench::{load_bench, load_inputs, BenchError, BenchItem};
pub use corpus::{corpus_schema, read_corpus_split, CorpusRecord};
pub use decontaminate::{load_decontaminator, BenchmarkSource, Decontaminator, MatchRule};
pub use error::DatasetError;
pub use json_path::select_field;
pub(crate) use literal_slots::replace_where;
pub use literal_slots::{LiteralSlots, Slot, SlotKind};
pub use manifest::{dataset_card, file_sha256, Manifest, ManifestFile};
pub use nl2code::{load_nl2code, Nl2CodeBench, Nl2CodeItem};
pub use normalize::{dedent, normalize, Unnormalizable};
pub use pairs::{chain_schema, pair_schema, read_chain_steps, read_pairs, ChainStepRecord, PairRecord};
pub use repairs::{read_repairs, repair_schema, write_repairs, RepairRow};
pub use retrieval::Retrieval;
pub use shards::{list_shards, read_batches, read_string_column, write_parquet_atomic, ShardInfo, ShardWriter, ShardWriterOptions};
pub use split::{assign_split, snippet_id, Split};
pub use verify::{verify_dataset, Difference, Verification};
