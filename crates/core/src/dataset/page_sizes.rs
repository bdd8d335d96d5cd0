//! A check of every page header's declared sizes before the `parquet` crate
//! decodes a file.
//!
//! The crate reserves a page's declared uncompressed size before it checks it
//! (apache/arrow-rs#10734): a few hundred corrupt bytes can make it ask for
//! 2 GiB. The format bounds that size: a page's uncompressed bytes are part of
//! its column chunk's `total_uncompressed_size`, and its compressed bytes lie
//! inside the chunk. This module walks the pages of each column chunk, reading
//! just the two size fields of each Thrift page header, and refuses a file
//! that breaks either bound, naming the page's byte offset.

use super::thrift_compact::{Compact, ENDS_EARLY, I32};
use super::DatasetError;
use parquet::file::metadata::ParquetMetaData;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Checks the declared sizes of every page of `file` against its column
/// chunks (see the module documentation).
pub fn check_page_sizes(path: &Path, file: &File, metadata: &ParquetMetaData) -> Result<(), DatasetError> {
    let file_len = file.metadata().map_err(DatasetError::io(path))?.len();
    let refuse = |reason: String| DatasetError::Schema { path: path.to_path_buf(), reason };
    for (g, group) in metadata.row_groups().iter().enumerate() {
        for (c, chunk) in group.columns().iter().enumerate() {
            // what `ColumnChunkMetaData::byte_range` computes, which asserts instead of refusing
            let start = chunk.dictionary_page_offset().unwrap_or(chunk.data_page_offset());
            let (Ok(start), Ok(len)) = (u64::try_from(start), u64::try_from(chunk.compressed_size())) else {
                return Err(refuse(format!("row group {g}, column {c}: a negative column chunk offset or length")));
            };
            if start.checked_add(len).is_none_or(|end| end > file_len) {
                return Err(refuse(format!(
                    "row group {g}, column {c}: the column chunk ({len} bytes at {start}) runs past the end of the file ({file_len} bytes)"
                )));
            }
            let limit = u64::try_from(chunk.uncompressed_size()).unwrap_or(0);
            let end = start + len;
            let mut offset = start;
            while offset < end {
                let header = read_header_at(file, offset, end)
                    .map_err(|why| refuse(format!("the page header at byte {offset} is malformed: {why}")))?;
                if header.uncompressed > limit {
                    return Err(refuse(format!(
                        "the page at byte {offset} declares {} uncompressed bytes, more than its column chunk's {limit}",
                        header.uncompressed
                    )));
                }
                match (offset + header.header_len as u64).checked_add(header.compressed) {
                    Some(next) if next <= end => offset = next,
                    _ => {
                        return Err(refuse(format!(
                            "the page at byte {offset} declares {} compressed bytes, past the end of its column chunk",
                            header.compressed
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

/// Bytes of a page header read at first; a header with long statistics is
/// read again in a window four times larger, up to its column chunk's end.
const HEADER_WINDOW: u64 = 4096;

/// The page header at `offset`, read without the page body that follows it.
fn read_header_at(file: &File, offset: u64, end: u64) -> Result<PageSizes, String> {
    let mut window = HEADER_WINDOW.min(end - offset);
    loop {
        let mut bytes = vec![0u8; window as usize];
        file.read_exact_at(&mut bytes, offset).map_err(|e| e.to_string())?;
        match PageSizes::read(&bytes) {
            Err(why) if why == ENDS_EARLY && offset + window < end => window = (window * 4).min(end - offset),
            result => return result,
        }
    }
}

/// The sizes a Thrift page header declares, and the header's own length.
#[derive(Debug, PartialEq)]
struct PageSizes {
    uncompressed: u64,
    compressed: u64,
    header_len: usize,
}

impl PageSizes {
    /// Reads the `PageHeader` struct at the start of `bytes` (Thrift compact
    /// protocol): fields 2 and 3 are the uncompressed and compressed sizes;
    /// every other field is skipped.
    fn read(bytes: &[u8]) -> Result<PageSizes, String> {
        let mut reader = Compact::new(bytes);
        let (mut uncompressed, mut compressed) = (None, None);
        let mut last_id = 0i64;
        loop {
            let Some((kind, id)) = reader.field_header(&mut last_id)? else { break };
            match (id, kind) {
                (2, I32) => uncompressed = Some(reader.zigzag()?),
                (3, I32) => compressed = Some(reader.zigzag()?),
                _ => reader.skip(kind, 0)?,
            }
        }
        let size = |value: Option<i64>, name: &str| match value {
            Some(v) if v >= 0 => Ok(v as u64),
            Some(v) => Err(format!("negative {name} page size {v}")),
            None => Err(format!("no {name} page size")),
        };
        Ok(PageSizes {
            uncompressed: size(uncompressed, "uncompressed")?,
            compressed: size(compressed, "compressed")?,
            header_len: reader.position(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::thrift_compact::encode_varint;
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn written(rows: usize, compression: parquet::basic::Compression) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let text: Vec<String> = (0..rows).map(|i| format!("=SUM(A{i}:B{})", i * 7 % 13)).collect();
        let batch = RecordBatch::try_from_iter([
            ("text", Arc::new(StringArray::from(text)) as _),
            ("n", Arc::new(Int64Array::from((0..rows as i64).collect::<Vec<_>>())) as _),
        ])
        .unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(compression)
            .set_data_page_row_count_limit(7)
            .set_write_batch_size(7)
            .set_max_row_group_row_count(Some(50))
            .build();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        (dir, path)
    }

    fn check(path: &Path) -> Result<(), DatasetError> {
        let file = File::open(path).unwrap();
        let reader = SerializedFileReader::new(file.try_clone().unwrap()).unwrap();
        check_page_sizes(path, &file, reader.metadata())
    }

    #[test]
    fn every_page_of_written_files_is_walked_to_the_chunk_end() {
        for compression in [parquet::basic::Compression::UNCOMPRESSED, parquet::basic::Compression::ZSTD(Default::default())] {
            for rows in [1, 6, 7, 8, 120] {
                let (_dir, path) = written(rows, compression);
                check(&path).unwrap_or_else(|e| panic!("{rows} rows, {compression:?}: {e}"));
            }
        }
    }

    #[test]
    fn a_header_longer_than_the_first_window_is_read_whole() {
        // page statistics of 10,000-character values make headers of ~20 KB
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let text: Vec<String> = (0..3u8).map(|i| char::from(b'a' + i).to_string().repeat(10_000)).collect();
        let batch = RecordBatch::try_from_iter([("text", Arc::new(StringArray::from(text)) as _)]).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::Page)
            .set_write_page_header_statistics(true)
            .set_statistics_truncate_length(None)
            .set_dictionary_enabled(false)
            .build();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let (start, _) = reader.metadata().row_group(0).column(0).byte_range();
        let header = PageSizes::read(&bytes[start as usize..]).unwrap();
        assert!(header.header_len as u64 > HEADER_WINDOW, "a {} byte header", header.header_len);
        check(&path).unwrap();
    }

    #[test]
    fn a_page_declaring_more_than_its_chunk_is_refused_with_its_offset() {
        let (_dir, path) = written(20, parquet::basic::Compression::ZSTD(Default::default()));
        let mut bytes = std::fs::read(&path).unwrap();
        // the first page's header starts the first column chunk; its field 2
        // (0x15, a zigzag varint) is rewritten to declare 2^31 bytes
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let (start, _) = reader.metadata().row_group(0).column(0).byte_range();
        let header = &bytes[start as usize..];
        let sizes = PageSizes::read(header).unwrap();
        assert!(sizes.uncompressed > 0);
        let at = start as usize + 1 + varint_len(&header[1..]) + 1;
        assert_eq!(bytes[at - 1], 0x15, "field 2 follows field 1");
        let width = varint_len(&bytes[at..]);
        // zigzag(2^31) = 2^32; the chunk's metadata, read from the footer, stays as it was
        bytes.splice(at..at + width, encode_varint(1u64 << 32));
        std::fs::write(&path, &bytes).unwrap();
        let message = check(&path).unwrap_err().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("byte {start}")), "{message}");
        assert!(message.contains("more than its column chunk"), "{message}");
    }

    fn varint_len(bytes: &[u8]) -> usize {
        bytes.iter().position(|b| b & 0x80 == 0).unwrap() + 1
    }

    proptest! {
        /// Any bytes give sizes or a reason, never a panic, and a header never
        /// reads past its input.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(sizes) = PageSizes::read(&bytes) {
                prop_assert!(sizes.header_len <= bytes.len());
            }
        }
    }
}
