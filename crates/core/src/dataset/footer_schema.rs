//! A check of the schema in a Parquet file's footer before the `parquet` crate
//! decodes it.
//!
//! The crate reserves room for a group's children from the count the footer
//! declares (`SchemaElement.num_children`, an `i32`) before it reads them: one
//! corrupt varint makes it ask for 15 GB. The schema is a depth-first list, so a
//! group's children are among the elements after it. This module reads the
//! footer's schema list, only the `num_children` of each element, and refuses a
//! count larger than the elements that follow, naming the element.

use super::thrift_compact::{Compact, I32, LIST, STRUCT};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// The magic bytes at both ends of a Parquet file (an encrypted footer has
/// other ones, and is left to the `parquet` crate).
const MAGIC: &[u8; 4] = b"PAR1";

/// Why the footer's schema of `file` cannot be decoded safely, or `None` when
/// it can. A footer this check cannot locate is left to the `parquet` crate,
/// which refuses it with its own reason.
pub(crate) fn footer_schema_problem(file: &File) -> std::io::Result<Option<String>> {
    let file_len = file.metadata()?.len();
    if file_len < 12 {
        return Ok(None);
    }
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, file_len - 8)?;
    let footer_len = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("four bytes")));
    if &tail[4..] != MAGIC || footer_len > file_len - 12 {
        return Ok(None);
    }
    let mut footer = vec![0u8; footer_len as usize];
    file.read_exact_at(&mut footer, file_len - 8 - footer_len)?;
    Ok(schema_problem(&footer).err())
}

/// Reads `FileMetaData` (Thrift compact protocol) up to its field 2, the
/// schema list, and checks each element's field 5, `num_children`.
fn schema_problem(footer: &[u8]) -> Result<(), String> {
    let mut reader = Compact::new(footer);
    let mut last_id = 0i64;
    while let Some((kind, id)) = reader.field_header(&mut last_id).map_err(|why| format!("the footer is malformed: {why}"))? {
        if (id, kind) != (2, LIST) {
            reader.skip(kind, 0).map_err(|why| format!("the footer is malformed: {why}"))?;
            continue;
        }
        let (element_kind, count) = reader.list_header().map_err(|why| format!("the footer's schema is malformed: {why}"))?;
        if element_kind != STRUCT {
            return Err(format!("the footer's schema lists Thrift type {element_kind}, not schema elements"));
        }
        for index in 0..count {
            let children = num_children(&mut reader)
                .map_err(|why| format!("the footer's schema element {index} (of {count} declared) is malformed: {why}"))?;
            let following = count - 1 - index;
            match children {
                Some(n) if n < 0 || n as u64 > following => {
                    return Err(format!("the footer's schema element {index} declares {n} children, but {following} elements follow it"))
                }
                _ => {}
            }
        }
        return Ok(());
    }
    Ok(())
}

/// The `num_children` of the `SchemaElement` struct at the reader, which is
/// read to its end.
fn num_children(reader: &mut Compact) -> Result<Option<i64>, String> {
    let mut children = None;
    let mut last_id = 0i64;
    while let Some((kind, id)) = reader.field_header(&mut last_id)? {
        match (id, kind) {
            (5, I32) => children = Some(reader.zigzag()?),
            _ => reader.skip(kind, 1)?,
        }
    }
    Ok(children)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::thrift_compact::encode_varint;
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// The bytes of a two-column file as `ArrowWriter` writes it.
    fn written() -> Vec<u8> {
        let batch = RecordBatch::try_from_iter([
            ("text", Arc::new(StringArray::from(vec!["=SUM(A1:B2)", "=A1"])) as _),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as _),
        ])
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        bytes
    }

    /// `bytes` with its footer replaced by `edit(footer)`, and the footer
    /// length updated.
    fn with_footer(bytes: &[u8], edit: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let len = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap()) as usize;
        let start = bytes.len() - 8 - len;
        let footer = edit(&bytes[start..bytes.len() - 8]);
        let mut out = bytes[..start].to_vec();
        out.extend_from_slice(&footer);
        out.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        out.extend_from_slice(MAGIC);
        out
    }

    fn problem(bytes: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        std::fs::write(&path, bytes).unwrap();
        footer_schema_problem(&File::open(&path).unwrap()).unwrap()
    }

    #[test]
    fn a_written_file_passes_and_so_does_one_without_a_footer() {
        assert_eq!(problem(&written()), None);
        assert_eq!(problem(b"PAR1"), None, "left to the parquet crate");
        assert_eq!(problem(b"not a parquet file at all"), None, "left to the parquet crate");
    }

    #[test]
    fn a_group_declaring_more_children_than_follow_is_refused_before_the_crate_reserves_them() {
        // the root element's name, then field 5 (0x15) with zigzag(2) = 4: its two columns
        let bytes = with_footer(&written(), |footer| {
            let name = footer.windows(12).position(|w| w == b"arrow_schema").expect("the root's name");
            let at = name + 12;
            assert_eq!(&footer[at..at + 2], &[0x15, 0x04], "num_children follows the name");
            // zigzag(1,879,246,840) as a varint: what a fuzzed shard declared
            [&footer[..at + 1], &encode_varint(1_879_246_840u64 << 1), &footer[at + 2..]].concat()
        });
        let reason = problem(&bytes).expect("refused");
        assert!(reason.contains("element 0 declares 1879246840 children, but 2 elements follow it"), "{reason}");
    }

    #[test]
    fn an_overstated_schema_list_ends_early_instead_of_allocating() {
        // the schema list's header: field 2 (0x19: one after field 1, LIST), then 0x3c (3 structs)
        let bytes = with_footer(&written(), |footer| {
            let at = footer.windows(2).position(|w| w == [0x19, 0x3c]).expect("the schema list header");
            [&footer[..at + 1], &[0xfc, 0xff, 0xff, 0xff, 0x0f][..], &footer[at + 2..]].concat()
        });
        let reason = problem(&bytes).expect("refused");
        assert!(reason.contains("malformed") || reason.contains("children"), "{reason}");
    }

    proptest! {
        /// Any footer bytes give a reason or none, never a panic.
        #[test]
        fn arbitrary_footers_never_panic(footer in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = schema_problem(&footer);
        }
    }
}
