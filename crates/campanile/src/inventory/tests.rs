use super::*;

const CSV_SCHEMA: &str =
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag";

fn manifest(format: &str, schema: &str) -> Result<Manifest, String> {
    Manifest::parse(&format!(
        r#"{{"sourceBucket":"src","destinationBucket":"arn:aws:s3:::inv",
            "version":"2016-11-30","fileFormat":"{format}",
            "fileSchema":"{schema}",
            "files":[{{"key":"inv/src/cfg/data/a.csv.gz","size":1,"MD5checksum":"x"}}]}}"#
    ))
}

pub(crate) fn gz(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).expect("gzip");
    encoder.finish().expect("gzip")
}

fn objects_of_csv(data: &[u8], schema: &str) -> Result<Vec<InventoryObject>, Error> {
    let mut objects = Vec::new();
    read_csv_gz(data, schema, "a.csv.gz", |object| {
        objects.push(object);
        Ok(())
    })?;
    Ok(objects)
}

#[test]
fn csv_reports_give_the_current_objects_decoded() {
    let manifest = manifest("CSV", CSV_SCHEMA).expect("manifest");
    assert_eq!(manifest.destination_bucket_name(), "inv");
    manifest.check_listing_fields().expect("a listing");
    let data = gz(concat!(
        "\"src\",\"a%2Fb\",\"v1\",\"true\",\"false\",\"3\",\"2024-02-03T04:05:06.000Z\",\"0cc175b9c0f1b6a831c399e269772661\"\n",
        "\"src\",\"old\",\"v0\",\"false\",\"false\",\"3\",\"2024-02-03T04:05:06.000Z\",\"x\"\n",
        "\"src\",\"gone\",\"v2\",\"true\",\"true\",\"\",\"2024-02-03T04:05:06.000Z\",\"\"\n",
        "\"src\",\"tab%09key+x\",\"v1\",\"true\",\"false\",\"17\",\"1970-01-01T00:01:00Z\",\"abc-2\"\n",
    ));
    let objects = objects_of_csv(&data, CSV_SCHEMA).expect("read");
    assert_eq!(
        objects,
        [
            InventoryObject {
                bucket: Some("src".into()),
                key: "a/b".into(),
                size: Some(3),
                etag: Some("0cc175b9c0f1b6a831c399e269772661".into()),
                last_modified: Some(1_706_933_106),
            },
            InventoryObject {
                bucket: Some("src".into()),
                key: "tab\tkey x".into(),
                size: Some(17),
                etag: Some("abc-2".into()),
                last_modified: Some(60),
            }
        ]
    );
}

#[test]
fn bad_csv_rows_are_named_by_file_row_and_field() {
    let short = objects_of_csv(&gz("\"src\",\"k\"\n"), CSV_SCHEMA).expect_err("short row");
    assert!(
        short.to_string().contains("a.csv.gz: row 1: 2 fields"),
        "{short}"
    );
    let size = objects_of_csv(
        &gz("\"src\",\"k\",\"v\",\"true\",\"false\",\"ten\",\"2024-02-03T04:05:06Z\",\"e\"\n"),
        CSV_SCHEMA,
    )
    .expect_err("bad size");
    assert!(size.to_string().contains("row 1: Size \"ten\""), "{size}");
    let date = objects_of_csv(
        &gz("\"src\",\"k\",\"v\",\"true\",\"false\",\"1\",\"yesterday\",\"e\"\n"),
        CSV_SCHEMA,
    )
    .expect_err("bad date");
    assert!(
        date.to_string().contains("row 1: LastModifiedDate"),
        "{date}"
    );
}

#[test]
fn a_listing_needs_size_etag_and_date() {
    let keys_only = manifest("CSV", "Bucket, Key, Size").expect("manifest");
    let error = keys_only.check_listing_fields().expect_err("no ETag");
    assert!(error.contains("no ETag, LastModifiedDate"), "{error}");
    let parquet = manifest(
        "Parquet",
        "message s3.inventory { required binary bucket (STRING); required binary key (STRING); \
         optional int64 size; optional binary e_tag (STRING); }",
    )
    .expect("manifest");
    let error = parquet.check_listing_fields().expect_err("no date");
    assert!(error.contains("no LastModifiedDate"), "{error}");
    let full = manifest(
        "Parquet",
        "message s3.inventory { required binary bucket (STRING); required binary key (STRING); \
         optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); \
         optional binary e_tag (STRING); }",
    )
    .expect("manifest");
    full.check_listing_fields().expect("a listing");
}

#[test]
fn orc_reports_are_refused_clearly() {
    let error = manifest("ORC", "struct<bucket:string,key:string>").expect_err("orc");
    assert!(error.contains("ORC is not supported"), "{error}");
}

#[test]
fn data_file_lines_round_trip_and_name_their_fields() {
    let manifest = manifest("CSV", CSV_SCHEMA).expect("manifest");
    let files = manifest.data_files(None).expect("files");
    assert_eq!(files[0].location, "s3://inv/inv/src/cfg/data/a.csv.gz");
    let local = manifest
        .data_files(Some(Path::new("/reports/x")))
        .expect("files");
    assert_eq!(local[0].location, "/reports/x/a.csv.gz");
    let line = files[0].to_line();
    assert_eq!(
        DataFile::parse(&line).expect("parse"),
        Some(files[0].clone())
    );
    assert_eq!(DataFile::parse("# data files").expect("comment"), None);
    let error = DataFile::parse("ORC\ts3://b/k\tx").expect_err("orc");
    assert!(error.starts_with("field 1 (format)"), "{error}");
    let error = DataFile::parse("CSV\ts3://b/k\tBucket, Size").expect_err("no key");
    assert!(error.starts_with("field 3 (fileSchema)"), "{error}");
    let error = DataFile::parse("CSV\ts3://b/k").expect_err("two fields");
    assert!(error.contains("found 2"), "{error}");
}

/// One row of a Parquet report: key, size, ETag, last modified (ms), latest, deleted.
pub(crate) type ParquetRow<'a> = (&'a str, i64, &'a str, i64, bool, bool);

/// A Parquet report as S3 Inventory writes one (Snappy), in memory.
pub(crate) fn parquet_report(rows: &[ParquetRow<'_>]) -> Vec<u8> {
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int64Type};
    use std::sync::Arc;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message s3.inventory { required binary bucket (STRING); \
             required binary key (STRING); optional int64 size; \
             optional binary e_tag (STRING); \
             optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); \
             optional boolean is_latest; optional boolean is_delete_marker; }",
        )
        .expect("schema"),
    );
    let properties = Arc::new(
        parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = parquet::file::writer::SerializedFileWriter::new(&mut out, schema, properties)
        .expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    let defined = vec![1; rows.len()];
    let mut index = 0;
    while let Some(mut column) = group.next_column().expect("column") {
        let strings = |pick: for<'r> fn(&'r ParquetRow<'r>) -> &'r str| -> Vec<ByteArray> {
            rows.iter().map(|row| ByteArray::from(pick(row))).collect()
        };
        match index {
            0 => column
                .typed::<ByteArrayType>()
                .write_batch(&strings(|_| "src"), None, None),
            1 => column
                .typed::<ByteArrayType>()
                .write_batch(&strings(|row| row.0), None, None),
            2 | 4 => {
                let values: Vec<i64> = rows
                    .iter()
                    .map(|row| if index == 2 { row.1 } else { row.3 })
                    .collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, Some(&defined), None)
            }
            3 => column.typed::<ByteArrayType>().write_batch(
                &strings(|row| row.2),
                Some(&defined),
                None,
            ),
            _ => {
                let values: Vec<bool> = rows
                    .iter()
                    .map(|row| if index == 5 { row.4 } else { row.5 })
                    .collect();
                column
                    .typed::<BoolType>()
                    .write_batch(&values, Some(&defined), None)
            }
        }
        .expect("write");
        column.close().expect("close column");
        index += 1;
    }
    group.close().expect("close group");
    writer.close().expect("close");
    out
}

#[test]
fn parquet_reports_give_the_current_objects() {
    let data = parquet_report(&[
        (
            "a/b",
            3,
            "0cc175b9c0f1b6a831c399e269772661",
            1_706_933_106_500,
            true,
            false,
        ),
        ("old", 3, "x", 0, false, false),
        ("gone", 0, "", 0, true, true),
        ("tab\tkey x", 17, "abc-2", 60_000, true, false),
    ]);
    let mut objects = Vec::new();
    let count = read_parquet(bytes::Bytes::from(data), "a.parquet", |object| {
        objects.push(object);
        Ok(())
    })
    .expect("read");
    assert_eq!(count, 2);
    assert_eq!(objects[0].key, "a/b");
    assert_eq!(objects[0].size, Some(3));
    assert_eq!(objects[0].last_modified, Some(1_706_933_106));
    assert_eq!(objects[1].key, "tab\tkey x");
    assert_eq!(objects[1].etag.as_deref(), Some("abc-2"));
    let error = read_parquet(bytes::Bytes::from_static(b"nope"), "x.parquet", |_| Ok(()))
        .expect_err("not parquet");
    assert!(
        error
            .to_string()
            .contains("x.parquet: not a readable Parquet file"),
        "{error}"
    );
}
