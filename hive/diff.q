-- Campanile diff: which source objects must be copied to make the destination match.
--
-- Run by the rsync plan as
--   hive-script --run-hive-script --args -f <code>/diff.q -d SRC=<dir> -d DST=<dir> -d DIFF=<dir>
-- SRC and DST hold bucketlist output (key, etag, size, mtime; TAB-separated, keys
-- escaped by Campanile, which Hive compares as opaque strings). DIFF receives every
-- source row whose key is missing in the destination or whose ETag differs, followed
-- by dstEtag (below); it is the input of multipartlist. Skip rows (objects bucketlist left
-- out, `key etag size skipped:<reason>:<detail>`) have the same four columns and go
-- through the same join, so they reach the run's skip report unless the destination
-- already holds the object with the same ETag.
-- Every other row gets a fifth field, dstEtag: the ETag of the destination, or `-` when the
-- destination has no such key. It makes the copy's write conditional (If-Match or
-- If-None-Match: *), so an object written at the destination during the run is not
-- overwritten. Skip rows keep their four fields (the CASE). The native diff
-- (crates/campanile/src/plan/local/diff.rs) writes the same rows.
-- Temporary tables keep concurrent runs on one cluster apart.

CREATE TEMPORARY EXTERNAL TABLE campanile_src (key STRING, etag STRING, size BIGINT, mtime STRING)
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n'
  STORED AS TEXTFILE LOCATION '${SRC}';

CREATE TEMPORARY EXTERNAL TABLE campanile_dst (key STRING, etag STRING, size BIGINT, mtime STRING)
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n'
  STORED AS TEXTFILE LOCATION '${DST}';

INSERT OVERWRITE DIRECTORY '${DIFF}'
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t'
  SELECT s.key, s.etag, s.size,
    CASE WHEN s.mtime LIKE 'skipped:%' THEN s.mtime
         ELSE concat(s.mtime, '\t', coalesce(d.etag, '-')) END
  FROM campanile_src s LEFT OUTER JOIN campanile_dst d ON (s.key = d.key)
  WHERE d.key IS NULL OR s.etag != d.etag;
