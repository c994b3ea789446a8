-- Campanile diff: which source objects must be copied to make the destination match.
--
-- Run by the rsync plan as
--   hive-script --run-hive-script --args -f <code>/diff.q -d SRC=<dir> -d DST=<dir> -d DIFF=<dir>
-- SRC and DST hold bucketlist output (key, etag, size, mtime; TAB-separated, keys
-- escaped by Campanile, which Hive compares as opaque strings). DIFF receives, in the
-- same format, every source row whose key is missing in the destination or whose
-- ETag differs; it is the input of multipartlist. Skip rows (objects bucketlist left
-- out, `key etag size skipped:<reason>:<detail>`) have the same four columns and go
-- through the same join, so they reach the run's skip report unless the destination
-- already holds the object with the same ETag.
-- Temporary tables keep concurrent runs on one cluster apart.

CREATE TEMPORARY EXTERNAL TABLE campanile_src (key STRING, etag STRING, size BIGINT, mtime STRING)
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n'
  STORED AS TEXTFILE LOCATION '${SRC}';

CREATE TEMPORARY EXTERNAL TABLE campanile_dst (key STRING, etag STRING, size BIGINT, mtime STRING)
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' LINES TERMINATED BY '\n'
  STORED AS TEXTFILE LOCATION '${DST}';

INSERT OVERWRITE DIRECTORY '${DIFF}'
  ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t'
  SELECT s.key, s.etag, s.size, s.mtime
  FROM campanile_src s LEFT OUTER JOIN campanile_dst d ON (s.key = d.key)
  WHERE d.key IS NULL OR s.etag != d.etag;
